import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { PeerCertificate } from "node:tls";
import { create, type DescMethodUnary, type Message, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Compression, compressionNegotiate } from "@connectrpc/connect/protocol";
import { parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import { type ReadResponse, ReadResponseSchema } from "../../../gen/secretgate/v1/secret_service_pb.js";
import type { Credentials } from "../../auth/authenticator.js";
import type { Identity } from "../../auth/identity.js";
import type { AuthorizedCall } from "../../core/call-context.js";
import { ServiceError } from "../../core/errors.js";
import { type ArrivingBodies, type BodyHold, tooMuchArriving } from "../arriving-bodies.js";
import { type Dispatcher, methodPath, serviceMethods } from "../dispatcher.js";
import type { ListenerFaults } from "../listener-faults.js";
import { settleAuthority } from "../request-authority.js";
import {
  announcesMore,
  type BodyFormat,
  bodyFormat,
  decodeUnaryMessage,
  encodingHeader,
  requestCompression,
  tooLarge,
  unaryMessageBytes,
} from "../request-body.js";
import { cancelLateBody, endUnreadBody } from "../unread-bodies.js";
import { encodeReadResponse } from "./read-response-encoding.js";
import { refusal, type UnaryAnswer, unaryAnswer } from "./unary-answers.js";

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;
export type RequestHandler = (request: NodeRequest, response: NodeResponse) => void;

export interface UnaryCallOptions {
  dispatcher: Dispatcher;
  readMaxBytes: number;
  /** What bodies still arriving may hold on this listener, and for how long. */
  bodies: ArrivingBodies;
  /** The request compressions accepted, and the response compressions offered (connect-node's `acceptCompression`). */
  compressions: readonly Compression[];
  /** The listener's own host:port, for a request without an authority. */
  authority: () => string;
  /** The caller's address and verified client certificate. */
  caller: (request: NodeRequest) => { peer: string; certificate: PeerCertificate | undefined };
  faults: ListenerFaults;
}

/**
 * Serves the unary calls of SecretService and AdminService over Connect (binary and JSON) and gRPC-Web (binary and
 * JSON)
 * directly, and hands everything else to `library` (connect-node): other paths, HTTP methods
 * (Connect's unary GET included) and content types, streaming, gRPC-Web text, and gRPC.
 *
 * connect-node's per-call plumbing cost the HTTP port more than the service itself: two
 * AbortControllers aborted with a DOMException (a stack trace) per call, the body and the answer
 * passed through chains of async generators, every header copied into a `Headers`. A unary call
 * needs none of it: its body is read whole (request-body.ts already checked it before connect-node
 * saw it), the service mostly answers at once from the cache, and the answer is written in one go.
 *
 * connect-node stays the reference: this path answers with the same status, headers, body and
 * audit record for every outcome (test/unit/server/fast-path/unary-calls.test.ts compares the two, call by call).
 */
export function unaryCalls(options: UnaryCallOptions, library: RequestHandler): RequestHandler {
  const methods = new Map(serviceMethods.map((method) => [methodPath(method), method]));
  return (request, response) => {
    const method = methods.get(pathOf(request.url ?? ""));
    const contentType = request.headers["content-type"];
    const format = method
      ? bodyFormat(request.method, typeof contentType === "string" ? contentType : null)
      : undefined;
    if (!method || !format || format.protocol === "grpc") return library(request, response);
    new UnaryCall(options, method, format, request, response).start();
  };
}

function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query < 0 ? url : url.slice(0, query);
}

/** One call, from its request head to its answer. */
class UnaryCall {
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private compression: Compression | undefined;
  private hold: BodyHold | undefined;

  constructor(
    private readonly options: UnaryCallOptions,
    private readonly method: DescMethodUnary,
    private readonly format: BodyFormat,
    private readonly request: NodeRequest,
    private readonly response: NodeResponse,
  ) {}

  /** The same checks, in the same order, as connect-adapter.ts before connect-node reads the body. */
  start(): void {
    const { request, format, options } = this;
    const problem = settleAuthority(request, options.authority());
    if (problem) {
      options.faults.peer("bad_authority");
      return this.refuse(new ConnectError(problem, Code.InvalidArgument));
    }
    const compression = requestCompression(
      format,
      headerText(request.headers[encodingHeader(format)]),
      options.compressions,
    );
    if (compression instanceof ConnectError) return this.refuse(compression);
    this.compression = compression;
    if (announcesMore(headerText(request.headers["content-length"]), options.readMaxBytes))
      return this.refuse(tooLarge(options.readMaxBytes));
    // A late body's request is reset (HTTP/2) or its connection closed (HTTP/1); onClose then runs.
    this.hold = options.bodies.hold(() => cancelLateBody(request));
    request.on("data", this.onData);
    request.on("end", this.onEnd);
    request.on("close", this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.received += chunk.byteLength;
    const tooBig = this.received > this.options.readMaxBytes;
    if (!tooBig && this.hold!.take(chunk.byteLength)) {
      this.chunks.push(chunk);
      return;
    }
    // The rest is left unread, as connect-adapter.ts leaves it (then cut off: unread-bodies.ts).
    this.stopReading();
    this.chunks.length = 0;
    this.request.pause();
    const { readMaxBytes, bodies } = this.options;
    this.guarded(() => this.refuse(tooBig ? tooLarge(readMaxBytes) : tooMuchArriving(bodies.maxBytes)));
  };

  private readonly onEnd = (): void => {
    this.stopReading();
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks.length = 0;
    this.guarded(() => {
      const message = unaryMessageBytes(body, this.format, this.compression, this.options.readMaxBytes);
      if (message instanceof Promise) this.whenSettled(message, (bytes) => this.decoded(bytes));
      else this.decoded(message);
    });
  };

  /** The peer went away before its body ended. */
  private readonly onClose = (): void => {
    this.stopReading();
    this.options.faults.peer("request_error");
  };

  private stopReading(): void {
    this.hold?.close();
    this.request.off("data", this.onData);
    this.request.off("end", this.onEnd);
    this.request.off("close", this.onClose);
  }

  private decoded(bytes: Uint8Array | ConnectError): void {
    if (bytes instanceof ConnectError) return this.refuse(bytes);
    const message = decodeUnaryMessage(this.method.input, this.format, bytes);
    if (message instanceof ConnectError) return this.refuse(message);
    this.invoke(message);
  }

  /** What connect-node does once the body is checked: the timeout header, then the service. */
  private invoke(message: Message): void {
    const { request, format, options } = this;
    const responseCompression = negotiatedResponseCompression(format, request, options.compressions);
    const timeout =
      format.protocol === "connect"
        ? parseConnectTimeout(headerText(request.headers["connect-timeout-ms"]), Number.MAX_SAFE_INTEGER)
        : parseGrpcTimeout(headerText(request.headers["grpc-timeout"]), Number.MAX_SAFE_INTEGER);
    if (timeout.error)
      return this.answer(
        unaryAnswer(format, { code: timeout.error.code, message: timeout.error.rawMessage }, responseCompression),
      );

    const { peer, certificate } = options.caller(request);
    const context = new DirectCallContext(
      peer,
      { authorization: headerText(request.headers.authorization) ?? undefined, peerCertificate: certificate },
      this.response,
      timeout.timeoutMs,
    );
    if (options.dispatcher.tracing) {
      context.traceparent = headerText(request.headers.traceparent) ?? undefined;
      context.tracestate = headerText(request.headers.tracestate) ?? undefined;
    }
    let result: unknown;
    try {
      result = options.dispatcher.dispatch(this.method, message, context);
    } catch (error) {
      context.settle();
      return this.answer(unaryAnswer(format, failure(error), responseCompression));
    }
    if (!(result instanceof Promise)) {
      context.settle();
      return this.answer(unaryAnswer(format, this.serialize(result), responseCompression));
    }
    this.whenSettled(
      result.then(
        (response: unknown) => this.serialize(response),
        (error: unknown) => failure(error),
      ),
      (outcome) => {
        context.settle();
        this.answer(unaryAnswer(format, outcome, responseCompression));
      },
    );
  }

  /** The response message in the call's format, or the INTERNAL connect-node reports when that fails. */
  private serialize(response: unknown): { message: Uint8Array } | { code: Code; message: string } {
    const { output } = this.method;
    const message = create(output, response as never);
    if (this.format.binary) {
      try {
        return {
          message:
            output === ReadResponseSchema ? encodeReadResponse(message as ReadResponse) : toBinary(output, message),
        };
      } catch (error) {
        return {
          code: Code.Internal,
          message: `serialize binary: ${error instanceof Error ? error.message : String(error)}`,
        };
      }
    }
    try {
      return { message: Buffer.from(toJsonString(output, message), "utf8") };
    } catch (error) {
      return { code: Code.Internal, message: ConnectError.from(error, Code.Internal).rawMessage };
    }
  }

  /** A call refused before the service saw it: audited, and answered in its protocol's error shape. */
  private refuse(error: ConnectError): void {
    const { request, options } = this;
    const { peer, certificate } = options.caller(request);
    options.dispatcher.refuse(
      this.method,
      {
        peer,
        protocol: "connect",
        credentials: { authorization: request.headers.authorization, peerCertificate: certificate },
      },
      new ServiceError(error.code as number, error.rawMessage),
    );
    const { status, header, body } = refusal(this.format, error);
    endUnreadBody(this.request, this.response);
    this.write({ status, headers: Object.fromEntries(header), body });
  }

  private answer(answer: UnaryAnswer | Promise<UnaryAnswer>): void {
    if (answer instanceof Promise) this.whenSettled(answer, (ready) => this.write(ready));
    else this.write(answer);
  }

  private write(answer: UnaryAnswer): void {
    const response = this.response;
    if (peerGone(response)) return this.options.faults.peer("response_error");
    (response as ServerResponse).writeHead(answer.status, answer.headers);
    response.end(answer.body);
  }

  /** Runs `next` with what `pending` resolves to; nothing it throws or rejects with escapes. */
  private whenSettled<T>(pending: Promise<T>, next: (value: T) => void): void {
    pending.then(
      (value) => this.guarded(() => next(value)),
      (error: unknown) => this.failed(error),
    );
  }

  /**
   * Runs a step of the call outside the request handler's own guard (an event, a promise):
   * a throw, a bug of ours, is treated as connect-adapter.ts treats one.
   */
  private guarded(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.failed(error);
    }
  }

  /** A bug of ours after the call started: logged, and the response cut off. */
  private failed(error: unknown): void {
    this.options.faults.unexpected("handler", error);
    this.response.destroy();
  }
}

/**
 * How a failed call is reported: its ServiceError, or INTERNAL for anything else (as callService in
 * http-listener.ts).
 */
function failure(error: unknown): { code: Code; message: string } {
  return error instanceof ServiceError
    ? { code: error.code as number, message: error.message }
    : { code: Code.Internal, message: "internal error" };
}

/**
 * A call as the service sees it. Its AbortSignal is made when first asked for (only calls that
 * reach a back end do): like connect-node's, it is aborted when the caller goes away and at the
 * deadline the caller set.
 */
class DirectCallContext implements AuthorizedCall {
  readonly protocol = "connect";
  deadline?: number;
  traceparent?: string | undefined;
  tracestate?: string | undefined;
  /** Set by the dispatcher once it has authenticated the caller. */
  identity!: Identity;
  private controller: AbortController | undefined;
  private goneAway: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settled = false;

  constructor(
    readonly peer: string,
    readonly credentials: Credentials,
    private readonly response: NodeResponse,
    timeoutMs: number | undefined,
  ) {
    // As connect-es computes it: a Date of the moment the timeout ends (whole milliseconds).
    if (timeoutMs !== undefined) this.deadline = new Date(Date.now() + timeoutMs).getTime();
  }

  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    const response = this.response;
    // connect-node's reasons: an HTTP/2 reset says why (CANCEL: Canceled); an HTTP/1 connection that closes says
    // nothing.
    const goneAway = () => controller.abort("stream" in response ? resetReason(response.stream.rstCode) : undefined);
    if (peerGone(response)) {
      goneAway();
    } else if (!this.settled) {
      this.goneAway = goneAway;
      response.once("close", goneAway);
    }
    if (this.deadline !== undefined && !controller.signal.aborted) {
      const timedOut = () => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
      const remaining = this.deadline - Date.now();
      if (remaining <= 0) timedOut();
      else if (!this.settled) this.timer = setTimeout(timedOut, remaining);
    }
    return controller.signal;
  }

  /** The call has its answer: its deadline timer and close listener go. */
  settle(): void {
    this.settled = true;
    clearTimeout(this.timer);
    if (this.goneAway) this.response.off("close", this.goneAway);
  }
}

/** The reason connect-node gives an aborted call for an HTTP/2 reset code (its connectErrorFromH2ResetCode). */
function resetReason(rstCode: number | undefined): ConnectError | undefined {
  const code = rstCode === undefined ? undefined : RESET_CODES[rstCode];
  if (code === undefined) return undefined;
  return new ConnectError(
    `http/2 stream closed with error code ${RESET_NAMES[rstCode!]} (0x${rstCode!.toString(16)})`,
    code,
  );
}

const RESET_NAMES = [
  "NO_ERROR",
  "PROTOCOL_ERROR",
  "INTERNAL_ERROR",
  "FLOW_CONTROL_ERROR",
  "SETTINGS_TIMEOUT",
  "STREAM_CLOSED",
  "FRAME_SIZE_ERROR",
  "REFUSED_STREAM",
  "CANCEL",
  "COMPRESSION_ERROR",
  "CONNECT_ERROR",
  "ENHANCE_YOUR_CALM",
  "INADEQUATE_SECURITY",
  "HTTP_1_1_REQUIRED",
];
const RESET_CODES: Readonly<Record<number, Code>> = {
  1: Code.Internal,
  2: Code.Internal,
  3: Code.Internal,
  4: Code.Internal,
  6: Code.Internal,
  7: Code.Unavailable,
  8: Code.Canceled,
  9: Code.Internal,
  10: Code.Internal,
  11: Code.ResourceExhausted,
  12: Code.PermissionDenied,
  13: Code.PermissionDenied,
};

/** Whether the response can no longer be written: the connection (HTTP/1) or stream (HTTP/2) is gone. */
function peerGone(response: NodeResponse): boolean {
  return "stream" in response ? response.stream.destroyed : response.destroyed;
}

function negotiatedResponseCompression(
  format: BodyFormat,
  request: NodeRequest,
  compressions: readonly Compression[],
): Compression | undefined {
  const acceptHeader = format.protocol === "connect" ? "accept-encoding" : "grpc-accept-encoding";
  return (
    compressionNegotiate([...compressions], null, headerText(request.headers[acceptHeader]), acceptHeader).response ??
    undefined
  );
}

/**
 * A request header's value as connect-node reads it from a `Headers`: repeated values joined
 * with ", ", leading and trailing whitespace trimmed; null when absent.
 */
function headerText(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  const text = typeof value === "string" ? value : value.join(", ");
  return WHITESPACE_AT_ENDS.test(text) ? text.replace(WHITESPACE_AROUND, "") : text;
}

const WHITESPACE_AT_ENDS = /^[\t\n\r ]|[\t\n\r ]$/;
const WHITESPACE_AROUND = /^[\t\n\r ]+|[\t\n\r ]+$/g;
