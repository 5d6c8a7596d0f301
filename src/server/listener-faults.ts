import type { Logger } from "pino";
import type { CounterCell } from "../metrics/in-place.js";
import { listenerErrorCell } from "../metrics/metrics.js";

export type ListenerName = "grpc" | "http";

/**
 * What went wrong on a listener outside an RPC, as the `kind` label of
 * secretgate_listener_errors_total.
 */
export type FaultKind =
  /** A request handler threw or rejected unexpectedly: a bug of ours. */
  | "handler"
  /** Handing a connection to its protocol threw unexpectedly: a bug of ours. */
  | "connection"
  /** Malformed HTTP/1 (bad request line, headers, framing). */
  | "client_error"
  /** A request whose Host or :authority is not an authority, or that has two Hosts. */
  | "bad_authority"
  /** An HTTP/2 session failed: bad frames, flow-control or protocol errors, resets past the bound. */
  | "session_error"
  /** Writing a response failed (the peer went away mid-response). */
  | "response_error"
  /** Reading a request body failed (the peer went away before its body ended). */
  | "request_error"
  /** Transport errors: resets, broken pipes. */
  | "socket_error"
  /** A TLS handshake failed or did not finish in time. */
  | "tls_error"
  /**
   * A connection that sent no complete request head (or HTTP/2 preface and settings) in time, or left a later head
   * or header block unended.
   */
  | "header_timeout"
  /** A connection with no request in flight for too long. */
  | "idle_timeout"
  /** A request whose body (message) was not complete within body_timeout_ms. */
  | "body_timeout"
  /** A connection refused because the listener already holds max_connections, each with a request in flight. */
  | "connection_limit"
  /** A connection refused because its peer already holds max_connections_per_peer, each with a request in flight. */
  | "peer_connection_limit"
  /** A connection that never completed a request, or sat idle longest, closed to make room for a new one. */
  | "connection_replaced"
  /** Accepting a connection failed (e.g. out of file descriptors). */
  | "accept_error";

/**
 * Counts and logs what goes wrong on one listener. The log line names the kind, the peer and the
 * error's name and code — never its message or the request's headers, which may hold a token
 * (Node's parse errors carry the raw bytes they choked on). Failures the peer caused are logged
 * at debug: a flood of malformed requests must not become a flood of log lines (the metric counts
 * them). A handler's unexpected throw is ours, so it is logged at error with its stack frames.
 */
export class ListenerFaults {
  private readonly cells = new Map<FaultKind, CounterCell>();

  constructor(
    readonly listener: ListenerName,
    private readonly logger: Logger,
  ) {}

  /** Something the peer did (or a limit applied to it). */
  peer(kind: FaultKind, error?: unknown, peer?: string): void {
    this.count(kind);
    if (this.logger.isLevelEnabled("debug"))
      this.logger.debug(
        { listener: this.listener, kind, ...describe(error), ...(peer ? { peer } : {}) },
        "listener refused a connection or request",
      );
  }

  /** An unexpected throw of ours, turned into an error response or a closed connection. */
  unexpected(kind: FaultKind, error: unknown): void {
    this.count(kind);
    this.logger.error(
      { listener: this.listener, kind, ...describe(error), stack: stackFrames(error) },
      "listener caught an unexpected error",
    );
  }

  /** Runs `work` for one connection; an unexpected throw closes that connection instead of ending the process. */
  guard(socket: { destroy(): void }, work: () => void): void {
    try {
      work();
    } catch (error) {
      this.unexpected("connection", error);
      socket.destroy();
    }
  }

  private count(kind: FaultKind): void {
    let cell = this.cells.get(kind);
    if (!cell) {
      cell = listenerErrorCell(this.listener, kind);
      this.cells.set(kind, cell);
    }
    cell.inc();
  }
}

function describe(error: unknown): { error?: string; code?: string } {
  if (!(error instanceof Error)) return {};
  const code = (error as NodeJS.ErrnoException).code;
  return { error: error.name, ...(typeof code === "string" ? { code } : {}) };
}

/** The stack's frames without its first line, which repeats the message. */
function stackFrames(error: unknown): string | undefined {
  if (!(error instanceof Error) || typeof error.stack !== "string") return undefined;
  return error.stack
    .split("\n")
    .filter((line) => line.trimStart().startsWith("at "))
    .join("\n");
}
