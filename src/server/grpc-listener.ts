import type { Http2Server, Http2Session } from "node:http2";
import type { Socket } from "node:net";
import { type DescFile, type DescMethodUnary, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import type * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import { file_grpc_reflection_v1_reflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_health_v1_health } from "../../gen/health/v1/health_pb.js";
import { file_secretgate_v1_admin_service } from "../../gen/secretgate/v1/admin_service_pb.js";
import {
  file_secretgate_v1_secret_service,
  type ReadResponse,
  ReadResponseSchema,
} from "../../gen/secretgate/v1/secret_service_pb.js";
import type { CallContext } from "../core/call-context.js";
import { Code, ServiceError } from "../core/errors.js";
import { ArrivingBodies } from "./arriving-bodies.js";
import { acceptConnections, type ConnectionLimits } from "./connection-limits.js";
import type { ConnectionWatch } from "./connection-watch.js";
import { type Dispatcher, methodPath, SERVICES, serviceMethods, streamingMethods } from "./dispatcher.js";
import { type GrpcUnaryCallOptions, grpcUnaryCalls, type StreamHandler } from "./fast-path/grpc-unary-calls.js";
import { encodeReadResponse } from "./fast-path/read-response-encoding.js";
import { arrivingMessagesInterceptor } from "./grpc-arriving-messages.js";
import { listenOn } from "./listen-address.js";
import { ListenerFaults } from "./listener-faults.js";
import { onceSpoken } from "./protocol-sniffing.js";
import { grpcStreamingDefinition, grpcStreamingHandler } from "./server-streams.js";
import type { TlsMaterial } from "./tls.js";

export interface GrpcListener {
  /** The bound address, e.g. 127.0.0.1:50051 (resolves port 0). */
  address: string;
  health: HealthImplementation;
  /** Stops accepting and lets in-flight calls finish. */
  close(): Promise<void>;
  /** Closes every connection now. */
  destroy(): void;
}

/**
 * Serves SecretService and AdminService over gRPC with @grpc/grpc-js (about six times cheaper per call than
 * connect-node's gRPC path: docs/performance.md, "Measured choices"), plus server reflection and grpc.health.v1.Health.
 * Messages are encoded and decoded with the same protobuf-es types the Connect listener uses.
 *
 * grpc-js bounds streams per connection, but not how many connections it holds, how long one may
 * take to start (a TLS handshake, the preface) or to end a header block, and it closes an idle one
 * with a graceful GOAWAY that never completes while nghttp2 holds half a header block (issue 24).
 * So connections are accepted here, with the listener's bounds and deadlines (connection-limits.ts,
 * connection-watch.ts), and handed to grpc-js through its connection injector once they have sent
 * something (grpc-js then serves them exactly as it serves its own: the session runs on the
 * socket's native handle); each connection's watch follows the HTTP/2 session grpc-js makes for it.
 * TLS is terminated here too, so grpc-js sees TLS sockets with insecure credentials; it reads
 * client certificates from the socket either way.
 */
export async function startGrpcListener(options: {
  address: string;
  dispatcher: Dispatcher;
  maxMessageBytes: number;
  tls?: TlsMaterial | undefined;
  limits: ConnectionLimits;
  logger: Logger;
  /**
   * Every call through grpc-js, none through the direct unary path (fast-path/grpc-unary-calls.ts):
   * the reference that path's differential test compares it with.
   */
  grpcJsOnly?: boolean;
}): Promise<GrpcListener> {
  const { limits } = options;
  const faults = new ListenerFaults("grpc", options.logger);
  const auditedMethods = new Map(
    [...serviceMethods, ...streamingMethods].map((method) => [methodPath(method), method]),
  );
  const bodies = new ArrivingBodies(limits.maxArrivingBodyBytes, limits.bodyTimeoutMs, () =>
    faults.peer("body_timeout"),
  );
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
    // Channelz keeps per-session and per-call records for a channelz service this server does not offer.
    "grpc.enable_channelz": 0,
    interceptors: [
      arrivingMessagesInterceptor(
        bodies,
        (path, call, metadata, status) => {
          const method = auditedMethods.get(path);
          if (!method) return;
          const context = contextOf(
            call,
            metadata ?? new grpc.Metadata(),
            options.dispatcher,
            options.tls?.mutual ?? false,
          );
          options.dispatcher.refuse(method, context, new ServiceError(status.code as number, status.details));
        },
        () =>
          faults.unexpected(
            "handler",
            new Error(
              "grpc-js no longer shows its calls' HTTP/2 streams: request messages " +
                "still arriving on the gRPC port are not bounded",
            ),
          ),
      ),
    ],
  });
  for (const service of SERVICES) {
    const { definition, implementation } = serviceFor(
      service,
      options.dispatcher,
      options.tls?.mutual ?? false,
      faults,
    );
    server.addService(definition, implementation);
  }

  const reflection = new ReflectionService(reflectionPackageDefinition());
  reflection.addToServer(server);
  const health = new HealthImplementation({
    "": "SERVING",
    ...Object.fromEntries(SERVICES.map((service) => [service.typeName, "SERVING" as const])),
  });
  health.addToServer(server);

  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  // grpc-js makes a connection's session, and emits it, while the connection is being injected.
  let arriving: ConnectionWatch | undefined;
  const http2Server = injectorHttp2Server(server);
  http2Server.on("session", (session: Http2Session) => arriving?.watchHttp2(session));
  if (!options.grpcJsOnly) {
    const direct = { dispatcher: options.dispatcher, maxMessageBytes: options.maxMessageBytes, bodies, faults };
    serveUnaryCallsDirectly(http2Server, { ...direct, clientCertificates: options.tls?.mutual ?? false });
  }
  const sockets = new Set<Socket>();
  const accepting = acceptConnections({
    limits,
    faults,
    tls: options.tls ? { material: options.tls, alpn: ["h2"] } : undefined,
    serve: (socket, watch) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      onceSpoken(socket, (spoken) =>
        faults.guard(spoken, () => {
          arriving = watch;
          try {
            injector.injectConnection(spoken);
          } finally {
            arriving = undefined;
          }
        }),
      );
    },
  });
  return {
    address: await listenOn(accepting, options.address),
    health,
    close: async () => {
      // The accepting server closes once every connection it accepted has: grpc-js's own
      // tryShutdown sends each session its GOAWAY, but does not wait for injected connections
      // (Node's server.close marks their sessions closed, so grpc-js thinks them done).
      const drained = new Promise<void>((resolve) => accepting.close(() => resolve()));
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await drained;
    },
    destroy: () => {
      bodies.close();
      accepting.close();
      server.forceShutdown();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/**
 * The HTTP/2 server behind grpc-js's connection injector, whose 'session' event shows each
 * connection's session. grpc-js keeps it in a private field (its `http2Servers`, one per port or
 * injector; this server has only the injector), so a grpc-js release could move it: then the
 * listener does not start, rather than serve connections it cannot bound (test/e2e fails first).
 */
function injectorHttp2Server(server: grpc.Server): Http2Server {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  const found = servers instanceof Map ? [...servers.keys()] : [];
  const http2Server: unknown = found.length === 1 ? found[0] : undefined;
  if (!http2Server || typeof (http2Server as Http2Server).on !== "function") {
    throw new Error(
      "grpc-js no longer shows the HTTP/2 server behind its connection " +
        "injector: the gRPC port cannot watch its connections " +
        "(src/server/grpc-listener.ts)",
    );
  }
  return http2Server as Http2Server;
}

/**
 * Puts the direct unary path (fast-path/grpc-unary-calls.ts) before grpc-js's own handler of the
 * injector's streams, which it hands every stream it does not serve. grpc-js listens for them with
 * one listener, added when the injector is made; a grpc-js release that did otherwise stops the
 * start rather than serve calls twice or not at all (test/e2e fails first).
 */
function serveUnaryCallsDirectly(http2Server: Http2Server, options: GrpcUnaryCallOptions): void {
  const library = http2Server.listeners("stream");
  if (library.length !== 1) {
    throw new Error(
      `grpc-js no longer handles its injector's streams with one listener (${library.length}): ` +
        "the gRPC port cannot serve unary calls directly (src/server/grpc-listener.ts)",
    );
  }
  http2Server.removeAllListeners("stream");
  http2Server.on("stream", grpcUnaryCalls(options, library[0] as StreamHandler));
}

/** One service of the contract as grpc-js serves it: each of its methods through the dispatcher. */
function serviceFor(
  service: DescService,
  dispatcher: Dispatcher,
  clientCertificates: boolean,
  faults: ListenerFaults,
): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
  const definition: Record<string, grpc.MethodDefinition<Buffer, unknown>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of serviceMethods.filter((unary) => unary.parent === service)) {
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: false,
      responseStream: false,
      // Requests arrive as raw bytes and are decoded in the handler, so a malformed body is
      // INVALID_ARGUMENT (grpc-js would report a deserializer failure as INTERNAL).
      requestSerialize: (bytes: Buffer) => bytes,
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize:
        method.output === ReadResponseSchema
          ? (message: unknown) => encodeReadResponse(message as ReadResponse)
          : (message: unknown) => asBuffer(toBinary(method.output, message as never)),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
    };
    implementation[method.localName] = guardedHandler(
      handlerFor(method, dispatcher, clientCertificates),
      faults,
    ) as grpc.UntypedHandleCall;
  }
  for (const method of streamingMethods.filter((streaming) => streaming.parent === service)) {
    definition[method.localName] = grpcStreamingDefinition(method);
    implementation[method.localName] = grpcStreamingHandler(method, dispatcher, (call) =>
      callContextOf(call, dispatcher, clientCertificates),
    ) as grpc.UntypedHandleCall;
  }
  return { definition: definition as grpc.ServiceDefinition, implementation };
}

/**
 * The dispatcher turns a failing call into its status itself; this catches what throws around it
 * (a bug), which grpc-js would answer UNKNOWN with the error's message and nobody would hear of.
 */
function guardedHandler(
  handler: grpc.handleUnaryCall<Buffer, unknown>,
  faults: ListenerFaults,
): grpc.handleUnaryCall<Buffer, unknown> {
  return (call, callback) => {
    try {
      handler(call, callback);
    } catch (error) {
      faults.unexpected("handler", error);
      callback({ code: grpc.status.INTERNAL, details: "internal error (logged on the server)" });
    }
  };
}

function handlerFor(
  method: DescMethodUnary,
  dispatcher: Dispatcher,
  clientCertificates: boolean,
): grpc.handleUnaryCall<Buffer, unknown> {
  return (call, callback) => {
    const context = callContextOf(call, dispatcher, clientCertificates);
    const fail = (error: unknown) => {
      const failure = error instanceof ServiceError ? error : new ServiceError(Code.Internal, "internal error");
      callback({ code: failure.code as number, details: failure.message });
    };
    let request: unknown;
    try {
      request = fromBinary(method.input, call.request);
    } catch (error) {
      const refusal = new ServiceError(
        Code.InvalidArgument,
        `request body is not a valid ${method.input.typeName} message: ${(error as Error).message}`,
      );
      dispatcher.refuse(method, context, refusal);
      fail(refusal);
      return;
    }
    let response: unknown;
    try {
      response = dispatcher.dispatch(method, request, context);
    } catch (error) {
      fail(error);
      return;
    }
    if (response instanceof Promise) response.then((answer: unknown) => callback(null, answer), fail);
    else callback(null, response);
  };
}

/** What the dispatcher needs to know of a gRPC call. */
function callContextOf(
  call: grpc.ServerUnaryCall<Buffer, unknown> | grpc.ServerWritableStream<Buffer, unknown>,
  dispatcher: Dispatcher,
  clientCertificates: boolean,
): CallContext {
  return contextOf(call, call.metadata, dispatcher, clientCertificates);
}

function contextOf(
  call: Pick<grpc.ServerInterceptingCallInterface, "getDeadline" | "getPeer" | "getAuthContext">,
  metadata: grpc.Metadata,
  dispatcher: Dispatcher,
  clientCertificates: boolean,
): CallContext {
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  const authorization = metadata.get("authorization")[0];
  const context: CallContext = {
    peer: call.getPeer(),
    protocol: "grpc",
    credentials: {
      authorization: typeof authorization === "string" ? authorization : undefined,
      // grpc-js reports only certificates that verified against the client CA. Asked only
      // when mutual TLS is on: it goes through the session's socket proxy on every call.
      peerCertificate: clientCertificates ? call.getAuthContext()?.sslPeerCertificate : undefined,
    },
    ...(Number.isFinite(deadlineMs) ? { deadline: deadlineMs } : {}),
  };
  if (dispatcher.tracing) {
    context.traceparent = traceHeader(metadata, "traceparent");
    context.tracestate = traceHeader(metadata, "tracestate");
  }
  return context;
}

/**
 * A trace context header as HTTP would hand it over: repeated values joined with commas (a
 * repeated traceparent then matches no valid one and is ignored; tracestate may be split).
 */
function traceHeader(metadata: grpc.Metadata, key: string): string | undefined {
  const values = metadata.get(key);
  return values.length === 0 ? undefined : values.join(",");
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Reflection serves the contract from the generated descriptors, so grpcurl / buf curl need no
 * .proto files. @grpc/reflection reads only `fileDescriptorProtos` from the package definition,
 * so we hand it the exact descriptors protobuf-es was generated from (and their dependencies):
 * our two services', and those of the health and reflection services this listener also serves
 * (generated from the .proto files their packages implement; buf.gen.grpc.yaml), which grpcurl
 * users expect `list` to show and `grpc.health.v1.Health/Check` to need no .proto file.
 */
function reflectionPackageDefinition(): protoLoader.PackageDefinition {
  const files: DescFile[] = [];
  const visit = (file: DescFile) => {
    if (files.includes(file)) return;
    file.dependencies.forEach(visit);
    files.push(file);
  };
  for (const file of [
    file_secretgate_v1_secret_service,
    file_secretgate_v1_admin_service,
    file_health_v1_health,
    file_grpc_reflection_v1_reflection,
    file_grpc_reflection_v1alpha_reflection,
  ]) {
    visit(file);
  }
  const fileDescriptorProtos = files.map((file) => asBuffer(toBinary(FileDescriptorProtoSchema, file.proto)));
  return {
    [SERVICES[0]!.typeName]: { format: "", type: {}, fileDescriptorProtos },
  } as unknown as protoLoader.PackageDefinition;
}
