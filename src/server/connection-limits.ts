import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { ListenerFaults } from "./listener-faults.js";
import type { TlsMaterial } from "./tls.js";

/** secretgate.limits: what one connection may hold, and for how long. */
export interface ConnectionLimits {
  /**
   * A connection must complete its first request head (or HTTP/2 preface and SETTINGS) within this; with TLS, the
   * handshake first gets as long again.
   */
  headerTimeoutMs: number;
  /** A connection with no request in flight is closed after this. */
  idleTimeoutMs: number;
  /** Connections per listener; past it, new ones are closed at once. */
  maxConnections: number;
  /** Streams one HTTP/2 connection may have open at once (advertised in SETTINGS). */
  maxConcurrentStreams: number;
  /** A request's body (its message) must be complete within this of its head. */
  bodyTimeoutMs: number;
  /** Bytes all request bodies still arriving on one listener may hold together. */
  maxArrivingBodyBytes: number;
}

/**
 * The bound on HTTP/2 rapid resets (CVE-2023-44487): nghttp2's token bucket of incoming RST_STREAM
 * frames per connection, past which the connection is closed with GOAWAY. A connection may cancel
 * every stream it may have open at once, then 33 a second. nghttp2's own burst is 1,000, and each
 * of those streams is set up before it is cancelled: the hostile-load benchmark measured the HTTP
 * port's RSS at about 500 MB after 300 such connections, 290 MB with a burst of 100. grpc-js
 * cannot be given these options (it passes none to its HTTP/2 server), so the gRPC port keeps
 * nghttp2's defaults.
 */
export function streamResetBound(limits: ConnectionLimits): { streamResetBurst: number; streamResetRate: number } {
  return { streamResetBurst: limits.maxConcurrentStreams, streamResetRate: 33 };
}

/**
 * Accepts connections for one listener and applies what can be applied before any protocol runs:
 * the connection count (Node's own `maxConnections`: a connection past it is closed at once),
 * `noDelay` (a plain net server leaves Nagle's algorithm on, which cost the HTTP port two thirds
 * of its throughput: docs/performance.md, "Measured choices"), the TLS handshake timeout, and an error listener (an
 * accept that
 * fails, e.g. out of file descriptors, is an 'error' event, and an unheard one ends the process).
 * `serve` gets each connection ready for its protocol: the TCP socket, or the TLS socket once
 * its handshake is done.
 */
export function acceptConnections(options: {
  limits: ConnectionLimits;
  faults: ListenerFaults;
  tls?: { material: TlsMaterial; alpn: string[] } | undefined;
  serve: (socket: Socket | TLSSocket) => void;
}): NetServer {
  const { limits, faults } = options;
  const onSocket = (socket: Socket) => {
    socket.setNoDelay(true);
    socket.on("error", (error) => faults.peer("socket_error", error));
  };
  let server: NetServer;
  if (options.tls) {
    const { material, alpn } = options.tls;
    const secure = createTlsServer({ ...material.secureContextOptions(), ALPNProtocols: alpn, handshakeTimeout: limits.headerTimeoutMs });
    material.onReload(() => secure.setSecureContext(material.secureContextOptions()));
    secure.on("connection", onSocket);
    // A failed or timed-out handshake is only reported: the socket is ours to close.
    secure.on("tlsClientError", (error, socket) => {
      faults.peer("tls_error", error);
      socket.destroy();
    });
    secure.on("secureConnection", (socket: TLSSocket) => {
      socket.on("error", (error) => faults.peer("socket_error", error));
      faults.guard(socket, () => options.serve(socket));
    });
    server = secure;
  } else {
    server = createNetServer((socket) => {
      onSocket(socket);
      faults.guard(socket, () => options.serve(socket));
    });
  }
  server.maxConnections = limits.maxConnections;
  server.on("drop", () => faults.peer("connection_limit"));
  server.on("error", (error) => faults.peer("accept_error", error));
  return server;
}

/**
 * One connection's deadlines: it must prove itself (a complete request head, or the HTTP/2 preface
 * and SETTINGS) within `headerTimeoutMs` of being served, and, once it has, must not sit with no
 * request in flight for `idleTimeoutMs`. One timer per connection, re-armed only when it fires:
 * requests starting and ending move a deadline, not a timer.
 */
export class ConnectionWatch {
  private inFlight = 0;
  private ready = false;
  private deadline: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: { destroy(): void; once(event: "close", listener: () => void): unknown },
    private readonly limits: ConnectionLimits,
    private readonly faults: ListenerFaults,
    /** For a protocol whose progress cannot be watched: asked at the header deadline whether it was met. */
    private readonly metHeaderDeadline?: () => boolean,
  ) {
    this.deadline = Date.now() + limits.headerTimeoutMs;
    this.schedule(limits.headerTimeoutMs);
    socket.once("close", () => clearTimeout(this.timer));
  }

  /** Whether a request is in flight. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** The first request head, or the HTTP/2 preface and SETTINGS, arrived. */
  proven(): void {
    if (this.ready) return;
    this.ready = true;
    if (this.inFlight === 0) this.deadline = Date.now() + this.limits.idleTimeoutMs;
  }

  requestStarted(): void {
    this.inFlight++;
    this.proven();
  }

  requestEnded(): void {
    if (--this.inFlight === 0) {
      this.deadline = Date.now() + this.limits.idleTimeoutMs;
      if (!this.timer) this.schedule(this.limits.idleTimeoutMs);
    }
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => this.check(), ms);
  }

  private check(): void {
    this.timer = undefined;
    if (!this.ready && this.metHeaderDeadline?.()) {
      // Beyond this point the protocol's own idle handling takes over (grpc-js).
      this.ready = true;
      return;
    }
    // Busy connections have no deadline; the last request to end schedules the next check.
    if (this.inFlight > 0) return;
    const remaining = this.deadline - Date.now();
    if (remaining > 0) return this.schedule(remaining);
    this.faults.peer(this.ready ? "idle_timeout" : "header_timeout");
    this.socket.destroy();
  }
}
