import { useState } from "preact/hooks";
import type { Caller } from "../../../gen/secretgate/v1/admin_service_pb.js";
import { Notice } from "../components/status.js";
import { describeError } from "../errors.js";
import { clientsFor } from "../session.js";

/** Asks for a bearer token and checks it with WhoAmI before keeping it. */
export function SignIn(props: { onSignedIn: (token: string, caller: Caller) => void; message?: string | undefined }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | undefined>(props.message);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const trimmed = token.trim();
    if (trimmed === "") return setError("Enter a token.");
    setBusy(true);
    try {
      const { caller } = await clientsFor(trimmed).admin.whoAmI({});
      props.onSignedIn(trimmed, caller!);
    } catch (failure) {
      setError(`Sign-in failed: ${describeError(failure)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="sign-in">
      <h1>secretgate console</h1>
      <form onSubmit={submit} class="card" aria-describedby="sign-in-help">
        <label for="token">Bearer token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(event) => setToken(event.currentTarget.value)}
        />
        <p id="sign-in-help" class="help">
          The token is kept in this tab's session storage only and sent as the <code>authorization</code> header.
        </p>
        {error && <Notice kind="error">{error}</Notice>}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
