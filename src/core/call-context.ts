import type { Credentials } from "../auth/authenticator.js";
import type { Identity } from "../auth/identity.js";

/** What a listener knows about a call, in protocol-neutral form. */
export interface CallContext {
  /** Absolute deadline in epoch milliseconds, when the caller set one. */
  deadline?: number;
  /** Aborted when the caller cancels or disconnects, when the protocol tells us. */
  signal?: AbortSignal;
  /** The caller's address, e.g. `127.0.0.1:53422`. */
  peer: string;
  /** Which listener took the call. */
  protocol: "grpc" | "connect";
  /** The caller's bearer token and verified client certificate, as the listener saw them. */
  credentials: Credentials;
  /** The caller's W3C trace context headers, as sent; read only while tracing is on. */
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

/** A call whose caller has been authenticated (the dispatcher's job); the service authorizes against it. */
export interface AuthorizedCall extends CallContext {
  identity: Identity;
}
