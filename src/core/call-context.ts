import type { DescMethodServerStreaming, DescMethodUnary, DescService, MessageShape } from "@bufbuild/protobuf";
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
  /**
   * The back ends the access decision (access.ts) let this call reach, in the order it did: its
   * audit record's `backends`, by which TailAudit shows a record only to admins who may reach them.
   */
  reached?: string[];
}

/** What the access decision needs of a call: who makes it, until when, and where it went. */
export type ScopedCall = Pick<AuthorizedCall, "identity" | "deadline" | "signal" | "reached">;

/**
 * A typed implementation of a generated service descriptor, as connect-es's `ServiceImpl` is, with
 * the core's call in place of connect's HandlerContext: one method per RPC, taking its request
 * message and answering its response (or a promise of it; a stream for server-streaming RPCs). A
 * method with the wrong request or response type does not compile.
 */
export type ServiceImplementation<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends DescMethodUnary<infer I, infer O>
    ? (request: MessageShape<I>, call: AuthorizedCall) => MessageShape<O> | Promise<MessageShape<O>>
    : S["method"][K] extends DescMethodServerStreaming<infer I, infer O>
      ? (request: MessageShape<I>, call: AuthorizedCall) => AsyncIterable<MessageShape<O>>
      : never;
};
