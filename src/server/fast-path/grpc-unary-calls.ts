import { constants, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { TLSSocket } from "node:tls";
import { type DescMethodUnary, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type ReadResponse, ReadResponseSchema } from "../../../gen/secretgate/v1/secret_service_pb.js";
import type { Credentials } from "../../auth/authenticator.js";
import type { Identity } from "../../auth/identity.js";
import type { AuthorizedCall } from "../../core/call-context.js";
import { Code, ServiceError } from "../../core/errors.js";
import { type ArrivingBodies, type BodyHold, tooMuchArrivingMessage } from "../arriving-bodies.js";
import { type Dispatcher, methodPath, serviceMethods } from "../dispatcher.js";
import type { ListenerFaults } from "../listener-faults.js";
import { encodeReadResponseFramed } from "./read-response-encoding.js";

/** How Node's HTTP/2 server hands over a stream ('stream' event), and how grpc-js serves one. */
export type StreamHandler = (
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  flags: number,
  rawHeaders: string[],
) => void;

export interface GrpcUnaryCallOptions {
  dispatcher: Dispatcher;
  /** grpc-js's `grpc.max_receive_message_length`. */
  maxMessageBytes: number;
  /** The listener's bound on request bodies still arriving (shared with the calls grpc-js serves). */
  bodies: ArrivingBodies;
  /** Mutual TLS is on: a call's verified client certificate is its credential. */
  clientCertificates: boolean;
  faults: ListenerFaults;
}

/**
 * Serves the unary calls of SecretService and AdminService over gRPC on the HTTP/2 stream itself,
 * and hands every other stream to `library` (grpc-js's own stream handler): other paths, streaming,
 * compressed requests, content types other than `application/grpc` and `application/grpc+proto`,
 * and a `grpc-timeout` grpc-js would refuse.
 *
 * grpc-js made about a third of the gRPC port's cost per call, and most of its garbage: per call it
 * builds an intercepting call with a metadata copy of every header, a stream decoder, a queue of
 * reads, a Writable stream handed to the handler, an EventEmitter for the unary call and several
 * closures, and each call's answer passes through a chain of callbacks. A unary call needs none of
 * it: its message is read whole, the service called, and the answer written in one go.
 *
 * grpc-js stays the reference: this path answers with the same headers, message, trailers, status
 * codes and messages, refusals and audit records as grpc-js serving the same call through the
 * listener's handlers (grpc-listener.ts) does — including what grpc-js does with framing it does not
 * expect (a second message, none, a message over `maxMessageBytes`), a deadline that passes, and
 * the listener's bounds on bodies still arriving (grpc-arriving-messages.ts). Its differential test,
 * test/unit/server/fast-path/grpc-unary-calls.test.ts, sends every call shape to both.
 */
export function grpcUnaryCalls(options: GrpcUnaryCallOptions, library: StreamHandler): StreamHandler {
  const methods = new Map(serviceMethods.map((method) => [methodPath(method), method]));
  return (stream, headers, flags, rawHeaders) => {
    const method = methods.get(headers[":path"] ?? "");
    const contentType = headers["content-type"];
    const encoding = headers["grpc-encoding"];
    if (
      method === undefined ||
      (contentType !== "application/grpc" && contentType !== "application/grpc+proto") ||
      (encoding !== undefined && encoding !== "identity")
    ) {
      return library(stream, headers, flags, rawHeaders);
    }
    const timeout = headers["grpc-timeout"];
    let timeoutMs: number | undefined;
    if (timeout !== undefined) {
      timeoutMs = typeof timeout === "string" ? grpcTimeoutMs(timeout) : undefined;
      // grpc-js answers a malformed timeout itself (INTERNAL, before the call runs).
      if (timeoutMs === undefined) return library(stream, headers, flags, rawHeaders);
    }
    new GrpcUnaryCall(options, method, stream, headers, timeoutMs).start();
  };
}

/** grpc-js's reading of `grpc-timeout` (its DEADLINE_REGEX and units), in ms; undefined when it finds none. */
function grpcTimeoutMs(header: string): number | undefined {
  const match = TIMEOUT.exec(header);
  return match ? (Number(match[1]) * TIMEOUT_UNITS_MS[match[2]!]!) | 0 : undefined;
}

const TIMEOUT = /(\d{1,8})\s*([HMSmun])/;
const TIMEOUT_UNITS_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 1e-6,
};

/** grpc-js's check of a metadata value that is not binary: one it would drop (and log) is not read. */
const LEGAL_VALUE = /^[ -~]*$/;

const PREFIX_BYTES = 5;
const MAX_SEND_MESSAGE_BYTES = 64 * 1024 * 1024;

// The headers and trailers grpc-js writes, in its order.
const RESPONSE_HEADERS = {
  ":status": 200,
  "content-type": "application/grpc+proto",
  "grpc-accept-encoding": "identity,deflate,gzip",
  "grpc-encoding": "identity",
};
const WITH_TRAILERS = { waitForTrailers: true };
const OK_TRAILERS = { "grpc-status": 0, "grpc-message": "OK" };
const END_STREAM = { endStream: true };

/** Each stream's call, so that one listener function serves every stream's events. */
const CALL = Symbol("grpc unary call");
type CallStream = ServerHttp2Stream & { [CALL]?: GrpcUnaryCall };
/** A session's peer address, read once (grpc-js reads it through the session's socket proxy on every call). */
const PEER = Symbol("grpc peer");
type PeerSession = Http2Session & { [PEER]?: string };

function ignoreError(): void {}
function onData(this: CallStream, chunk: Buffer): void {
  this[CALL]?.received(chunk);
}
function onEnd(this: CallStream): void {
  this[CALL]?.halfClosed();
}
function onClose(this: CallStream): void {
  this[CALL]?.closed();
}
function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}
function onDeadline(call: GrpcUnaryCall): void {
  call.deadlinePassed();
}

/**
 * One call, from its headers to its status; also the context the dispatcher authenticates and the
 * service runs it under (one object per call).
 */
class GrpcUnaryCall implements AuthorizedCall {
  readonly protocol = "grpc";
  readonly peer: string;
  readonly credentials: Credentials;
  readonly deadline: number | undefined;
  traceparent: string | undefined;
  tracestate: string | undefined;
  identity!: Identity;
  reached: string[] | undefined = undefined;

  private hold: BodyHold | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** The request message, once it has arrived whole (its bytes, after the 5-byte prefix). */
  private message: Buffer | undefined;
  /** Bytes of a message still arriving: its prefix and what came of it so far. */
  private partial: Buffer[] | undefined;
  private partialBytes = 0;
  /** A status was sent, or the stream is gone: nothing more is read or written. */
  private done = false;

  constructor(
    private readonly options: GrpcUnaryCallOptions,
    private readonly method: DescMethodUnary,
    private readonly stream: CallStream,
    headers: IncomingHttpHeaders,
    timeoutMs: number | undefined,
  ) {
    const session = stream.session as PeerSession | undefined;
    if (session) session[PEER] ??= peerOf(session);
    this.peer = session?.[PEER] ?? "unknown";
    const authorization = headers.authorization;
    this.credentials = {
      authorization: typeof authorization === "string" && LEGAL_VALUE.test(authorization) ? authorization : undefined,
      peerCertificate: options.clientCertificates && session ? verifiedCertificate(session) : undefined,
    };
    this.deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    if (options.dispatcher.tracing) {
      this.traceparent = traceHeader(headers.traceparent);
      this.tracestate = traceHeader(headers.tracestate);
    }
    if (timeoutMs !== undefined) this.deadlineTimer = setTimeout(onDeadline, timeoutMs, this);
  }

  /** As grpc-js starts a unary call: the message counts against the listener's bound from the start. */
  start(): void {
    const stream = this.stream;
    stream[CALL] = this;
    stream.on("error", ignoreError);
    stream.once("close", onClose);
    this.hold = this.options.bodies.hold(() => this.late());
    stream.on("data", onData);
    stream.on("end", onEnd);
  }

  /**
   * A chunk of the request, read as grpc-js reads it: its messages are split out first (a prefix
   * announcing more than `maxMessageBytes` ends the call at once), then the chunk counts against
   * the listener's bound, then the messages are taken in order.
   */
  received(chunk: Buffer): void {
    if (this.done) return;
    let messages: Buffer[] | undefined;
    try {
      messages = this.split(chunk);
    } catch (error) {
      // grpc-js lets its hold go only on its next tick: this chunk still counts.
      this.sendStatus(Code.ResourceExhausted, (error as Error).message, true);
    }
    if (this.hold && !this.hold.take(chunk.byteLength)) {
      this.refuseArriving(Code.ResourceExhausted, tooMuchArrivingMessage(this.options.bodies.maxBytes));
      return;
    }
    if (messages === undefined) return this.done ? this.closeHold() : undefined;
    for (const message of messages) {
      if (this.done) return;
      if (this.message === undefined) {
        // As grpc-js, which asks for the next read once the message is whole: the end of the
        // request is awaited for body_timeout_ms anew, the message still counted against the
        // listener's bound, so a caller that never ends its side is cancelled rather than holding
        // the stream and its message until its deadline, or forever.
        this.message = message;
        this.hold?.renew();
      } else {
        // grpc-js stops reading here: the call never runs.
        this.message = undefined;
        this.sendStatus(
          Code.Unimplemented,
          `Received a second request message for server streaming method ${methodPath(this.method)}`,
        );
      }
    }
  }

  /**
   * The caller ended its side: the call runs, with the one message it sent. As with grpc-js, it
   * runs even when a status was sent after its message arrived (its deadline passed meanwhile, or
   * a message too large followed it): it is audited, and its answer is not sent.
   */
  halfClosed(): void {
    this.closeHold();
    const bytes = this.message;
    if (bytes === undefined) {
      this.sendStatus(
        Code.Unimplemented,
        `Received no request message for server streaming method ${methodPath(this.method)}`,
      );
      return;
    }
    this.message = undefined;
    try {
      this.run(bytes);
    } catch (error) {
      this.options.faults.unexpected("handler", error);
      this.sendStatus(Code.Internal, "internal error (logged on the server)");
    }
  }

  /** The stream closed (answered, reset by the caller, or its connection gone). */
  closed(): void {
    this.done = true;
    this.closeHold();
    clearTimeout(this.deadlineTimer);
    this.stream[CALL] = undefined;
  }

  deadlinePassed(): void {
    this.deadlineTimer = undefined;
    this.sendStatus(Code.DeadlineExceeded, "Deadline exceeded");
  }

  private run(bytes: Buffer): void {
    const { method, options } = this;
    let request: unknown;
    try {
      request = fromBinary(method.input, bytes);
    } catch (error) {
      const refusal = new ServiceError(
        Code.InvalidArgument,
        `request body is not a valid ${method.input.typeName} message: ${(error as Error).message}`,
      );
      options.dispatcher.refuse(method, this, refusal);
      this.sendStatus(refusal.code, refusal.message);
      return;
    }
    let response: unknown;
    try {
      response = options.dispatcher.dispatch(method, request, this);
    } catch (error) {
      this.failed(error);
      return;
    }
    if (response instanceof Promise) {
      response.then(
        (answer: unknown) => this.guarded(() => this.answer(answer)),
        (error: unknown) => this.guarded(() => this.failed(error)),
      );
    } else {
      this.answer(response);
    }
  }

  /** The answer as grpc-js writes it: headers, the message, then trailers with status OK. */
  private answer(response: unknown): void {
    if (this.done || this.stream.destroyed || this.stream.closed) return;
    let framed: Buffer;
    try {
      framed = this.frame(response);
    } catch {
      this.sendStatus(Code.Internal, "Error serializing response");
      return;
    }
    if (framed.length - PREFIX_BYTES > MAX_SEND_MESSAGE_BYTES) {
      this.sendStatus(
        Code.ResourceExhausted,
        `Sent message larger than max (${framed.length} vs. ${MAX_SEND_MESSAGE_BYTES})`,
      );
      return;
    }
    this.finish();
    const stream = this.stream;
    stream.respond(RESPONSE_HEADERS, WITH_TRAILERS);
    stream.once("wantTrailers", sendOkTrailers);
    stream.end(framed);
  }

  private frame(response: unknown): Buffer {
    const { output } = this.method;
    if (output === ReadResponseSchema) return encodeReadResponseFramed(response as ReadResponse);
    const message = toBinary(output, response as never);
    const framed = Buffer.allocUnsafe(PREFIX_BYTES + message.byteLength);
    framed[0] = 0;
    framed.writeUInt32BE(message.byteLength, 1);
    framed.set(message, PREFIX_BYTES);
    return framed;
  }

  /** A failed call's status, as the listener's handler reports one to grpc-js. */
  private failed(error: unknown): void {
    if (error instanceof ServiceError) this.sendStatus(error.code, error.message);
    else this.sendStatus(Code.Internal, "internal error");
  }

  /** A status without a message (grpc-js's trailers-only answer); nothing is sent once the call is done. */
  private sendStatus(code: Code, details: string, keepHold = false): void {
    if (this.done || this.stream.destroyed || this.stream.closed) return;
    const trailers = {
      "grpc-status": code as number,
      "grpc-message": encodeURI(details),
      ":status": 200,
      "content-type": "application/grpc+proto",
    };
    this.finish(keepHold);
    this.stream.respond(trailers, END_STREAM);
    // As grpc-js: what the caller still sends is read and dropped.
    this.stream.resume();
  }

  /** The call is answered: its deadline and its hold on arriving bytes end. */
  private finish(keepHold = false): void {
    this.done = true;
    if (!keepHold) this.closeHold();
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  /** The message did not arrive within body_timeout_ms (the hold is closed already). */
  private late(): void {
    this.hold = undefined;
    this.refuseArriving(
      Code.DeadlineExceeded,
      `the request message did not arrive within limits.body_timeout_ms (${this.options.bodies.timeoutMs} ms)`,
    );
  }

  /**
   * Ends a call whose message the listener will not hold (grpc-arriving-messages.ts): audited,
   * answered with `code`, and the stream reset (NO_ERROR) so the caller stops sending.
   */
  private refuseArriving(code: Code, details: string): void {
    this.closeHold();
    this.options.dispatcher.refuse(this.method, this, new ServiceError(code, details));
    this.sendStatus(code, details);
    this.stream.close(constants.NGHTTP2_NO_ERROR);
  }

  private closeHold(): void {
    if (this.hold) {
      this.hold.close();
      this.hold = undefined;
    }
  }

  /**
   * The whole messages `chunk` completes, as grpc-js's decoder splits them; throws as it does when a
   * prefix announces more than `maxMessageBytes`. A chunk holding exactly one message, the usual
   * case, is used as it is.
   */
  private split(chunk: Buffer): Buffer[] | undefined {
    if (this.partial === undefined && chunk.length >= PREFIX_BYTES) {
      const size = chunk.readUInt32BE(1);
      this.checkSize(size);
      if (chunk.length === PREFIX_BYTES + size) return [chunk.subarray(PREFIX_BYTES)];
    }
    let messages: Buffer[] | undefined;
    let offset = 0;
    while (offset < chunk.length) {
      this.partial ??= [];
      const parts = this.partial;
      if (this.partialBytes < PREFIX_BYTES) {
        const take = Math.min(PREFIX_BYTES - this.partialBytes, chunk.length - offset);
        parts.push(chunk.subarray(offset, offset + take));
        this.partialBytes += take;
        offset += take;
        if (this.partialBytes < PREFIX_BYTES) break;
        const prefix = Buffer.concat(parts, PREFIX_BYTES);
        parts.length = 0;
        parts.push(prefix);
        this.checkSize(prefix.readUInt32BE(1));
      }
      const size = parts[0]!.readUInt32BE(1);
      const take = Math.min(PREFIX_BYTES + size - this.partialBytes, chunk.length - offset);
      if (take > 0) parts.push(chunk.subarray(offset, offset + take));
      this.partialBytes += take;
      offset += take;
      if (this.partialBytes === PREFIX_BYTES + size) {
        messages ??= [];
        messages.push(Buffer.concat(parts, PREFIX_BYTES + size).subarray(PREFIX_BYTES));
        this.partial = undefined;
        this.partialBytes = 0;
      }
    }
    return messages;
  }

  private checkSize(size: number): void {
    const max = this.options.maxMessageBytes;
    if (max !== -1 && size > max) throw new Error(`Received message larger than max (${size} vs ${max})`);
  }

  /**
   * Runs a step after the call's first turn (a promise's reaction): a throw, a bug of ours, is
   * reported and answered INTERNAL.
   */
  private guarded(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.options.faults.unexpected("handler", error);
      this.sendStatus(Code.Internal, "internal error (logged on the server)");
    }
  }
}

/** The caller's address as grpc-js's getPeer gives it. */
function peerOf(session: Http2Session): string {
  const socket = session.socket;
  const address = socket?.remoteAddress;
  if (!address) return "unknown";
  return socket.remotePort ? `${address}:${socket.remotePort}` : address;
}

/** The client certificate as grpc-js's getAuthContext gives it: only one that verified against the client CA. */
function verifiedCertificate(session: Http2Session): Credentials["peerCertificate"] {
  const socket = session.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const certificate = socket.getPeerCertificate();
  return certificate.raw ? certificate : undefined;
}

/**
 * A trace context header as grpc-js's metadata holds it (values it would drop left out), repeated
 * values joined with commas.
 */
function traceHeader(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const values = (typeof value === "string" ? [value] : value).filter((one) => LEGAL_VALUE.test(one));
  return values.length === 0 ? undefined : values.join(",");
}
