import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { ConnectionWatch } from "./connection-watch.js";
import { ListenerConnections } from "./listener-connections.js";
import type { ListenerFaults } from "./listener-faults.js";
import type { TlsMaterial } from "./tls.js";

/** secretgate.limits: what one connection may hold, and for how long. */
export interface ConnectionLimits {
  /**
   * A connection must complete its first request head (or HTTP/2 preface and SETTINGS) within this, and each later
   * request head or header block within this of being seen; with TLS, the handshake first gets as long again.
   */
  headerTimeoutMs: number;
  /** A connection with no request in flight is closed after this. */
  idleTimeoutMs: number;
  /** Connections per listener; when full, a new one takes the place of the least useful (listener-connections.ts). */
  maxConnections: number;
  /** Connections per listener from one peer (an IPv4 address, an IPv6 /64). */
  maxConnectionsPerPeer: number;
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
 * the bounds on connections per listener and per peer (listener-connections.ts: a connection past
 * one takes the place of a less useful one, or is closed at once), each connection's deadlines (its
 * ConnectionWatch, handed to `serve` for the protocol to report to), `noDelay` (a plain net server
 * leaves Nagle's algorithm on, which cost the HTTP port two thirds of its throughput:
 * docs/performance.md, "Measured choices"), the TLS handshake timeout, and an error listener (an
 * accept that fails, e.g. out of file descriptors, is an 'error' event, and an unheard one ends the
 * process). `serve` gets each connection ready for its protocol: the TCP socket, or the TLS socket
 * once its handshake is done.
 */
export function acceptConnections(options: {
  limits: ConnectionLimits;
  faults: ListenerFaults;
  tls?: { material: TlsMaterial; alpn: string[] } | undefined;
  serve: (socket: Socket | TLSSocket, watch: ConnectionWatch) => void;
}): NetServer {
  const { limits, faults } = options;
  const connections = new ListenerConnections(limits, faults);
  const admit = (socket: Socket, tls: boolean): ConnectionWatch | undefined => {
    // Listened for first: making room may close this socket, or another, at once.
    socket.on("error", (error) => faults.peer("socket_error", error));
    const watch = connections.admit(socket, tls);
    if (watch) socket.setNoDelay(true);
    return watch;
  };
  const serve = (socket: Socket | TLSSocket, watch: ConnectionWatch) => {
    watch.serving(socket);
    faults.guard(socket, () => options.serve(socket, watch));
  };
  let server: NetServer;
  if (options.tls) {
    const { material, alpn } = options.tls;
    const secure = createTlsServer({
      ...material.secureContextOptions(),
      ALPNProtocols: alpn,
      handshakeTimeout: limits.headerTimeoutMs,
    });
    material.onReload(() => secure.setSecureContext(material.secureContextOptions()));
    // The TLS socket is made from the TCP one before this listener runs; its remote address and
    // port name the TCP socket's watch until the handshake is done.
    const handshaking = new Map<string, ConnectionWatch>();
    const key = (socket: Socket) => `${socket.remoteAddress} ${socket.remotePort}`;
    secure.on("connection", (socket: Socket) => {
      const watch = admit(socket, true);
      if (!watch) return;
      const id = key(socket);
      handshaking.set(id, watch);
      socket.once("close", () => handshaking.get(id) === watch && handshaking.delete(id));
    });
    // A failed or timed-out handshake is only reported: the socket is ours to close.
    secure.on("tlsClientError", (error, socket) => {
      faults.peer("tls_error", error);
      socket.destroy();
    });
    secure.on("secureConnection", (socket: TLSSocket) => {
      socket.on("error", (error) => faults.peer("socket_error", error));
      const id = key(socket);
      const watch = handshaking.get(id);
      handshaking.delete(id);
      if (!watch || watch.destroyed) return void socket.destroy();
      serve(socket, watch);
    });
    server = secure;
  } else {
    server = createNetServer((socket) => {
      const watch = admit(socket, false);
      if (watch) serve(socket, watch);
    });
  }
  server.on("error", (error) => faults.peer("accept_error", error));
  server.on("close", () => connections.stop());
  return server;
}
