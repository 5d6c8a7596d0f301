import { createServer as createHttp1Server, type ServerResponse } from "node:http";
import { createSecureServer as createSecureHttp2Server, createServer as createHttp2Server, type Http2Session } from "node:http2";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { ConnectError, createContextKey, createContextValues, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { TLSSocket, type PeerCertificate } from "node:tls";
import { connectAdapter } from "./connect-adapter.js";
import { ConsoleAssets } from "./console-assets.js";
import type { DescMethodUnary } from "@bufbuild/protobuf";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";
import type { CallContext } from "../core/call-context.js";
import { Code, ServiceError } from "../core/errors.js";
import { renderMetrics } from "../metrics/exposition.js";
import { serviceMethods, streamingMethods, type Dispatcher } from "./dispatcher.js";
import { connectStream } from "./server-streams.js";
import type { TlsMaterial } from "./tls.js";

export interface HttpListener {
  /** The bound address, e.g. 127.0.0.1:8080 (resolves port 0). */
  address: string;
  /** Stops accepting, lets in-flight requests finish, then closes idle connections. */
  close(): Promise<void>;
  /** Closes every connection now. */
  destroy(): void;
}

export interface Readiness {
  ready(): boolean;
  /** Shown in the /readyz body (back end, breaker state, cache size). */
  details(): Record<string, unknown>;
}

const peerKey = createContextKey<string>("");
const certificateKey = createContextKey<PeerCertificate | undefined>(undefined);
// The first bytes of every HTTP/2 connection without TLS (RFC 9113 §3.4).
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");

/**
 * Serves SecretService over Connect, gRPC-Web and Connect JSON with connect-node, on HTTP/1.1
  * and HTTP/2 on one port (h2c without TLS; ALPN with TLS), plus GET /healthz, /readyz and /metrics (Prometheus).
 */
export async function startHttpListener(options: {
  address: string;
  dispatcher: Dispatcher;
  maxMessageBytes: number;
  readiness: Readiness;
  tls?: TlsMaterial | undefined;
  /** The operator console, served under /console/ when built. */
  console?: ConsoleAssets | undefined;
}): Promise<HttpListener> {
  const handler = connectAdapter({
    routes: (router: ConnectRouter) => registerRoutes(router, options.dispatcher),
    readMaxBytes: options.maxMessageBytes,
    contextValues: (request) => {
      const socket = request.socket;
      const values = createContextValues().set(peerKey, `${socket.remoteAddress}:${socket.remotePort}`);
      // Only a certificate that verified against the client CA counts (optional mutual TLS).
      if (socket instanceof TLSSocket && socket.authorized) values.set(certificateKey, socket.getPeerCertificate());
      return values;
    },
    fallback: (request, response) =>
      options.console && ConsoleAssets.owns((request.url ?? "").split("?", 1)[0]!)
        ? options.console.serve(request, response as ServerResponse)
        : serveProbe(request.method, request.url, response as ServerResponse, options.readiness),
  });

  const http1 = createHttp1Server(handler);
  const sessions = new Set<Http2Session>();
  const trackSession = (session: Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  };
  const sockets = new Set<Duplex>();
  const trackSocket = (socket: Duplex) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  let server: NetServer;
  if (options.tls) {
    // With TLS, ALPN picks HTTP/2 or HTTP/1.1 on the one port.
    const tls = options.tls;
    const secure = createSecureHttp2Server({ ...tls.secureContextOptions(), allowHTTP1: true }, handler);
    tls.onReload(() => secure.setSecureContext(tls.secureContextOptions()));
    secure.on("session", trackSession);
    secure.on("secureConnection", trackSocket);
    server = secure;
  } else {
    const http2 = createHttp2Server(handler);
    http2.on("session", trackSession);
    // One port for both protocols: look at the first bytes and hand the socket to the right server.
    server = createNetServer((socket) => {
      trackSocket(socket);
      socket.once("data", (first: Buffer) => {
        socket.pause();
        const prefix = first.subarray(0, HTTP2_PREFACE.length);
        if (prefix.equals(HTTP2_PREFACE.subarray(0, prefix.length))) {
          http2.emit("connection", replayingStream(socket, first));
        } else {
          socket.unshift(first);
          http1.emit("connection", socket);
          socket.resume();
        }
      });
    });
  }
  const { host, port } = splitAddress(options.address);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;

  return {
    address: `${host}:${bound.port}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      http1.closeIdleConnections();
      for (const session of sessions) session.close();
      await options.dispatcher.whenDrained();
      http1.closeIdleConnections();
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 100))]);
    },
    destroy: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

function registerRoutes(router: ConnectRouter, dispatcher: Dispatcher): void {
  const implementation: Record<string, (request: unknown, context: HandlerContext) => unknown> = {};
  for (const method of serviceMethods) {
    implementation[method.localName] = (request, context) => callService(dispatcher, method, request, context);
  }
  for (const method of streamingMethods) {
    implementation[method.localName] = (request, context) => connectStream(dispatcher, method, request, callContextOf(dispatcher, context));
  }
  router.service(SecretService, implementation as never);
}

async function callService(dispatcher: Dispatcher, method: DescMethodUnary, request: unknown, context: HandlerContext): Promise<unknown> {
  try {
    return await dispatcher.dispatch(method, request, callContextOf(dispatcher, context));
  } catch (error) {
    const failure = error instanceof ServiceError ? error : new ServiceError(Code.Internal, "internal error");
    throw new ConnectError(failure.message, failure.code);
  }
}

function callContextOf(dispatcher: Dispatcher, context: HandlerContext): CallContext {
  const timeoutMs = context.timeoutMs();
  const callContext: CallContext = {
    peer: context.values.get(peerKey),
    protocol: "connect",
    credentials: { authorization: context.requestHeader.get("authorization") ?? undefined, peerCertificate: context.values.get(certificateKey) },
    signal: context.signal,
    ...(timeoutMs !== undefined ? { deadline: Date.now() + timeoutMs } : {}),
  };
  if (dispatcher.tracing) {
    // Headers joins a repeated header's values with ", ": a repeated traceparent is then malformed, and ignored.
    callContext.traceparent = context.requestHeader.get("traceparent") ?? undefined;
    callContext.tracestate = context.requestHeader.get("tracestate") ?? undefined;
  }
  return callContext;
}

function serveProbe(method: string | undefined, url: string | undefined, response: ServerResponse, readiness: Readiness): void {
  const path = (url ?? "").split("?")[0];
  const reply = (status: number, body: Record<string, unknown>) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(`${JSON.stringify(body)}\n`);
  };
  if (method === "GET" && path === "/healthz") return reply(200, { status: "ok" });
  if (method === "GET" && path === "/readyz") {
    const ready = readiness.ready();
    return reply(ready ? 200 : 503, { status: ready ? "ready" : "not ready", ...readiness.details() });
  }
  if (method === "GET" && path === "/metrics") {
    renderMetrics().then(
      ({ contentType, text }) => {
        response.writeHead(200, { "content-type": contentType });
        response.end(text);
      },
      () => reply(500, { error: "collecting metrics failed" }),
    );
    return;
  }
  reply(404, { error: "not found: this port serves secretgate.v1.SecretService over Connect, gRPC-Web and JSON, and GET /healthz, /readyz, /metrics and the console at /console/" });
}

export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
  return { host, port: Number(address.slice(colon + 1)) };
}

/**
 * The HTTP/2 session reads straight from a socket's native handle, so bytes already read in
 * JavaScript (the sniffed preface) cannot be pushed back. Wrapping the socket in a plain
 * Duplex that first replays them makes Node run the session over the stream instead.
 */
function replayingStream(socket: Socket, first: Buffer): Duplex {
  const stream = new Duplex({
    read: () => socket.resume(),
    write: (chunk, encoding, callback) => socket.write(chunk, encoding, callback),
    final: (callback) => socket.end(callback),
    destroy: (error, callback) => {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  Object.defineProperties(stream, {
    remoteAddress: { value: socket.remoteAddress },
    remotePort: { value: socket.remotePort },
    remoteFamily: { value: socket.remoteFamily },
  });
  stream.push(first);
  socket.on("data", (chunk) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on("end", () => stream.push(null));
  socket.on("error", (error) => stream.destroy(error));
  socket.on("close", () => stream.destroy());
  return stream;
}
