import { useEffect, useState } from "preact/hooks";
import type { Caller } from "../../../gen/secretgate/v1/admin_service_pb.js";
import { Notice } from "../components/status.js";
import { describeError } from "../errors.js";
import type { Clients } from "../session.js";

const list = (globs: readonly string[]) => (globs.length === 0 ? "nothing" : globs.join(", "));

/** The configured identities and their rules; ListCallers never returns tokens or digests. */
export function Callers(props: { clients: Clients }) {
  const [callers, setCallers] = useState<Caller[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    props.clients.admin.listCallers({}).then(
      (answer) => setCallers(answer.callers),
      (failure: unknown) => setError(describeError(failure)),
    );
  }, [props.clients]);

  return (
    <section aria-labelledby="callers-title">
      <h1 id="callers-title">Callers</h1>
      <p class="help">Identities configured in secretgate.auth, with what their rules allow.</p>
      {error && <Notice kind="error">{error}</Notice>}
      {callers && (
        <table>
          <caption>{callers.length} identities</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Read</th>
              <th scope="col">Write</th>
              <th scope="col">Delete</th>
              <th scope="col">Teams</th>
              <th scope="col">Back ends</th>
              <th scope="col">Admin</th>
            </tr>
          </thead>
          <tbody>
            {callers.map((caller) => (
              <tr key={caller.name}>
                <th scope="row">{caller.name}</th>
                <td>
                  {caller.kind}
                  {caller.certificate && ` (${caller.certificate})`}
                </td>
                <td>{list(caller.read)}</td>
                <td>{list(caller.write)}</td>
                <td>{list(caller.delete)}</td>
                <td>{list(caller.teams)}</td>
                <td>{list(caller.backends)}</td>
                <td>{caller.admin ? "yes" : caller.inlineTeamSettings ? "no (may send team settings)" : "no"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
