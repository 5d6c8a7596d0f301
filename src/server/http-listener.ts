import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from "node:http2";
import type { Duplex } from "node:stream";
import { type PeerCertificate, TLSSocket } from "node:tls";
import type { DescMethodUnary } from "@bufbuild/protobuf";
import {
  ConnectError,
  type ConnectRouter,
  createContextKey,
  createContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import type { Logger } from "pino";
import type { CallContext } from "../core/call-context.js";
import { Code, ServiceError } from "../core/errors.js";
import { renderMetrics } from "../metrics/exposition.js";
import { ArrivingBodies } from "./arriving-bodies.js";
import { COMPRESSIONS, connectAdapter } from "./connect-adapter.js";
import { acceptConnections, type ConnectionLimits, streamResetBound } from "./connection-limits.js";
import type { ConnectionWatch } from "./connection-watch.js";
import { ConsoleAssets } from "./console-assets.js";
import { type Dispatcher, SERVICES, serviceMethods, streamingMethods } from "./dispatcher.js";
import { unaryCalls } from "./fast-path/unary-calls.js";
import { listenOn, splitAddress } from "./listen-address.js";
import { ListenerFaults } from "./listener-faults.js";
import { sniffHttpVersion } from "./protocol-sniffing.js";
import type { Readiness } from "./readiness.js";
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

const peerKey = createContextKey<string>("");
const certificateKey = createContextKey<PeerCertificate | undefined>(undefined);

/**
 * Serves SecretService and AdminService over Connect (binary and JSON) and gRPC-Web, on HTTP/1.1 and HTTP/2 on one
 * port (h2c without TLS; ALPN with TLS), plus GET /healthz, /readyz and /metrics (Prometheus). Its
 * unary calls are answered directly (unary-calls.ts); everything else goes through connect-node.
 *
 * Connections are accepted here, not by Node's HTTP servers (which never listen: one port serves
 * both protocols), so the limits that Node's servers would apply while listening are applied by
 * acceptConnections and a ConnectionWatch per connection.
 */
export async function startHttpListener(options: {
  address: string;
  dispatcher: Dispatcher;
  maxMessageBytes: number;
  readiness: Pick<Readiness, "check">;
  tls?: TlsMaterial | undefined;
  limits: ConnectionLimits;
  logger: Logger;
  /** The operator console, served under /console/ when built. */
  console?: ConsoleAssets | undefined;
  /** Serve every call through connect-node: the reference the direct unary path (unary-calls.ts) is tested against. */
  connectNodeOnly?: boolean;
}): Promise<HttpListener> {
  const { limits } = options;
  const faults = new ListenerFaults("http", options.logger);
  const bodies = new ArrivingBodies(limits.maxArrivingBodyBytes, limits.bodyTimeoutMs, () =>
    faults.peer("body_timeout"),
  );
  let ownAuthority = "";
  const library = connectAdapter({
    routes: (router: ConnectRouter) => registerRoutes(router, options.dispatcher),
    readMaxBytes: options.maxMessageBytes,
    bodies,
    contextValues: (request) => {
      const { peer, certificate } = caller(request);
      return createContextValues().set(peerKey, peer).set(certificateKey, certificate);
    },
    refused: (method, request, error) => {
      const { peer, certificate } = caller(request);
      const authorization = request.headers.authorization;
      options.dispatcher.refuse(
        method,
        { peer, protocol: "connect", credentials: { authorization, peerCertificate: certificate } },
        new ServiceError(error.code as number, error.rawMessage),
      );
    },
    fallback: (request, response) =>
      options.console && ConsoleAssets.owns((request.url ?? "").split("?", 1)[0]!)
        ? options.console.serve(request, response as ServerResponse)
        : serveProbe(request.method, request.url, response as ServerResponse, options.readiness),
    authority: () => ownAuthority,
    faults,
  });
  const adapter = options.connectNodeOnly
    ? library
    : unaryCalls(
        {
          dispatcher: options.dispatcher,
          readMaxBytes: options.maxMessageBytes,
          bodies,
          compressions: COMPRESSIONS,
          authority: () => ownAuthority,
          caller,
          faults,
        },
        library,
      );

  // Every open connection and its watch; a socket's watch is found from its HTTP/1 requests.
  const watches = new Map<Duplex, ConnectionWatch>();
  const sessions = new Set<Http2Session>();
  let closing = false;

  // A later request head on a kept-alive connection must end within header_timeout_ms too (the
  // first one is the connection's watch's): Node's headersTimeout, checked on its own timer.
  const http1Options = {
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: 0,
    connectionsCheckingInterval: Math.max(25, Math.floor(limits.headerTimeoutMs / 4)),
  };
  const http1 = createHttp1Server(http1Options, (request, response) => {
    const watch = watches.get(request.socket);
    if (watch) {
      watch.requestStarted();
      response.once("close", () => {
        watch.requestEnded();
        if (closing && !watch.busy) request.socket.destroy();
      });
    }
    handle(request, response);
  });
  // Advertised in Keep-Alive; the watch enforces it (Node's own timer rearms on every byte).
  http1.keepAliveTimeout = limits.idleTimeoutMs;
  http1.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) =>
    refuseMalformedHttp1(error, socket, faults, watches.get(socket)),
  );
  // Node tracks its connections' request heads, and so applies headersTimeout, only once a server
  // is listening; this one never listens (connections are accepted in connection-limits.ts), so its
  // tracking is started as listen() starts it (test/e2e/connection-holds.test.ts fails without it).
  http1.emit("listening");

  const http2 = createHttp2Server(
    { settings: { maxConcurrentStreams: limits.maxConcurrentStreams }, ...streamResetBound(limits) },
    handle,
  );
  http2.on("sessionError", (error) => faults.peer("session_error", error));
  // Node creates a connection's session, and emits it, while the connection is being handed over.
  let arriving: ConnectionWatch | undefined;
  http2.on("session", (session: Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    arriving?.watchHttp2(session);
  });
  const serveHttp2 = (socket: Duplex, watch: ConnectionWatch) => {
    arriving = watch;
    try {
      http2.emit("connection", socket);
    } finally {
      arriving = undefined;
    }
  };

  function handle(request: IncomingMessage | Http2ServerRequest, response: ServerResponse | Http2ServerResponse): void {
    try {
      adapter(request, response);
    } catch (error) {
      faults.unexpected("handler", error);
      answerInternalError(response);
    }
  }

  const server = acceptConnections({
    limits,
    faults,
    tls: options.tls ? { material: options.tls, alpn: ["h2", "http/1.1"] } : undefined,
    serve: (socket, watch) => {
      watches.set(socket, watch);
      socket.once("close", () => watches.delete(socket));
      if (socket instanceof TLSSocket) {
        // ALPN chose; a client that offered none speaks HTTP/1.1.
        if (socket.alpnProtocol === "h2") serveHttp2(socket, watch);
        else http1.emit("connection", socket);
        return;
      }
      sniffHttpVersion(socket, {
        http1: (plain) => faults.guard(plain, () => http1.emit("connection", plain)),
        http2: (plain) => faults.guard(plain, () => serveHttp2(plain, watch)),
      });
    },
  });
  const address = await listenOn(server, options.address);
  // The authority a request without one is given (it only completes a URL nobody routes on).
  const { host, port } = splitAddress(address);
  ownAuthority = `${host.includes(":") ? `[${host}]` : host}:${port}`;

  return {
    address,
    close: async () => {
      closing = true;
      // Resolves once every accepted connection has closed.
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      // Idle connections go now, busy HTTP/1 ones after their response; HTTP/2 sessions close themselves once their
      // streams end.
      for (const [socket, watch] of watches) if (!watch.busy) socket.destroy();
      // Stops Node's request-head checks (it never listened: its callback only says so).
      http1.close(() => undefined);
      await drained;
    },
    destroy: () => {
      for (const socket of watches.keys()) socket.destroy();
      server.close();
      http1.close(() => undefined);
      bodies.close();
    },
  };
}

/** Who is calling: the peer's address and, with mutual TLS, a certificate that verified against the client CA. */
function caller(request: IncomingMessage | Http2ServerRequest): {
  peer: string;
  certificate: PeerCertificate | undefined;
} {
  const socket = request.socket;
  return {
    peer: `${socket.remoteAddress}:${socket.remotePort}`,
    certificate: socket instanceof TLSSocket && socket.authorized ? socket.getPeerCertificate() : undefined,
  };
}

function registerRoutes(router: ConnectRouter, dispatcher: Dispatcher): void {
  for (const service of SERVICES) {
    const implementation: Record<string, (request: unknown, context: HandlerContext) => unknown> = {};
    for (const method of serviceMethods.filter((unary) => unary.parent === service)) {
      implementation[method.localName] = (request, context) => callService(dispatcher, method, request, context);
    }
    for (const method of streamingMethods.filter((streaming) => streaming.parent === service)) {
      implementation[method.localName] = (request, context) =>
        connectStream(dispatcher, method, request, callContextOf(dispatcher, context));
    }
    // connect-node's router decodes each request with the method's own input type; the dispatcher holds the typed
    // implementations.
    router.service(service, implementation as never);
  }
}

async function callService(
  dispatcher: Dispatcher,
  method: DescMethodUnary,
  request: unknown,
  context: HandlerContext,
): Promise<unknown> {
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
    credentials: {
      authorization: context.requestHeader.get("authorization") ?? undefined,
      peerCertificate: context.values.get(certificateKey),
    },
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

/** A 500 when nothing was sent yet; otherwise the response is cut off (its status is already out). */
function answerInternalError(response: ServerResponse | Http2ServerResponse): void {
  try {
    if (response.headersSent) {
      response.destroy();
      return;
    }
    (response as ServerResponse).writeHead(500, { "content-type": "application/json" });
    response.end(`${JSON.stringify({ code: "internal", message: "internal error (logged on the server)" })}\n`);
  } catch {
    response.destroy();
  }
}

// Node's own answers to malformed HTTP/1 (what it sends when no clientError listener exists).
const HTTP1_REFUSALS: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: "431 Request Header Fields Too Large",
  HPE_CHUNK_EXTENSIONS_OVERFLOW: "413 Payload Too Large",
  ERR_HTTP_REQUEST_TIMEOUT: "408 Request Timeout",
};

/**
 * Malformed HTTP/1 (Node's parser refused it): counted, answered like Node would when no response
 * is in flight on the connection, and the connection closed.
 */
function refuseMalformedHttp1(
  error: NodeJS.ErrnoException,
  socket: Duplex,
  faults: ListenerFaults,
  watch: ConnectionWatch | undefined,
): void {
  faults.peer(
    error.code === "ECONNRESET"
      ? "socket_error"
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "header_timeout"
        : "client_error",
    error,
  );
  const status = HTTP1_REFUSALS[error.code ?? ""] ?? "400 Bad Request";
  // With a response in flight, a status line now would be read as that response's.
  if (error.code !== "ECONNRESET" && socket.writable && !watch?.busy) {
    socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
  socket.destroy();
}

/** `/readyz?strict` (also `strict=1`, `strict=true`): the strict variant (see Readiness). */
function wantsStrict(query: string | undefined): boolean {
  if (query === undefined) return false;
  const strict = new URLSearchParams(query).get("strict");
  return strict === "" || strict === "1" || strict === "true";
}

function serveProbe(
  method: string | undefined,
  url: string | undefined,
  response: ServerResponse,
  readiness: Pick<Readiness, "check">,
): void {
  const [path, query] = (url ?? "").split("?", 2);
  const reply = (status: number, body: Record<string, unknown>) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(`${JSON.stringify(body)}\n`);
  };
  if (method === "GET" && path === "/healthz") return reply(200, { status: "ok" });
  if (method === "GET" && path === "/readyz") {
    const { ready, body } = readiness.check(wantsStrict(query));
    return reply(ready ? 200 : 503, body);
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
  reply(404, {
    error:
      "not found: this port serves secretgate.v1.SecretService and " +
      "secretgate.v1.AdminService over Connect, gRPC-Web and JSON, and GET " +
      "/healthz, /readyz, /metrics and the console at /console/",
  });
}
