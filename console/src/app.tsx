import { Code, ConnectError } from "@connectrpc/connect";
import { useEffect, useMemo, useState } from "preact/hooks";
import type { Caller } from "../../gen/secretgate/v1/admin_service_pb.js";
import { Audit } from "./pages/audit.js";
import { Callers } from "./pages/callers.js";
import { Overview } from "./pages/overview.js";
import { Secrets } from "./pages/secrets.js";
import { SignIn } from "./pages/sign-in.js";
import { TeamEditor } from "./pages/team-editor.js";
import { Teams } from "./pages/teams.js";
import { BASE, followLink, navigate, PAGES, useRoute } from "./router.js";
import { type Clients, clientsFor, forgetToken, storedToken, storeToken } from "./session.js";

interface Session {
  token: string;
  caller: Caller;
}

/**
 * The console: sign-in, then the pages the identity may use. The server enforces every rule; the
 * navigation only hides what would be refused (a non-admin token sees Secrets alone).
 */
export function App() {
  const [session, setSession] = useState<Session>();
  const [checking, setChecking] = useState(storedToken() !== undefined);
  const [message, setMessage] = useState<string>();
  const route = useRoute();

  // A reload keeps the tab's token: check it is still accepted.
  useEffect(() => {
    const token = storedToken();
    if (!token) return;
    clientsFor(token)
      .admin.whoAmI({})
      .then(
        ({ caller }) => setSession({ token, caller: caller! }),
        (failure: unknown) => {
          if (ConnectError.from(failure).code === Code.Unauthenticated) forgetToken();
          setMessage("Your token is no longer accepted: sign in again.");
        },
      )
      .finally(() => setChecking(false));
  }, []);

  const clients = useMemo(() => (session ? clientsFor(session.token) : undefined), [session]);

  if (checking) return <p class="loading">Signing in…</p>;
  if (!session || !clients) {
    return (
      <SignIn
        message={message}
        onSignedIn={(token, caller) => {
          storeToken(token);
          setSession({ token, caller });
          if (route === "" || route === "sign-in") navigate(caller.admin ? "overview" : "secrets");
        }}
      />
    );
  }

  const signOut = () => {
    forgetToken();
    setSession(undefined);
    setMessage(undefined);
    navigate("");
  };
  const pages = PAGES.filter((page) => session.caller.admin || !page.admin);
  const [section = "", ...rest] = route.split("/");
  const current = pages.find((page) => page.path === section) ?? pages[0]!;

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">secretgate</span>
        <nav aria-label="Console">
          <ul>
            {pages.map((page) => (
              <li key={page.path}>
                <a
                  href={`${BASE}/${page.path}`}
                  aria-current={page === current ? "page" : undefined}
                  onClick={(event) => followLink(event, page.path)}
                >
                  {page.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          Signed in as <strong>{session.caller.name}</strong>
          {session.caller.admin ? " (admin)" : ""}
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={current.path} rest={rest} clients={clients} />
      </main>
    </>
  );
}

function Page(props: { path: string; rest: string[]; clients: Clients }) {
  switch (props.path) {
    case "overview":
      return <Overview clients={props.clients} />;
    case "teams":
      return props.rest[0] ? (
        <TeamEditor clients={props.clients} teamId={decodeURIComponent(props.rest[0])} />
      ) : (
        <Teams clients={props.clients} />
      );
    case "audit":
      return <Audit clients={props.clients} />;
    case "callers":
      return <Callers clients={props.clients} />;
    default:
      return <Secrets clients={props.clients} />;
  }
}
