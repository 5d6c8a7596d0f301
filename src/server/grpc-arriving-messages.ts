import { constants, type ServerHttp2Stream } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { type ArrivingBodies, type BodyHold, tooMuchArrivingMessage } from "./arriving-bodies.js";

const { NGHTTP2_NO_ERROR } = constants;

// grpc-js exports the interface, not all of the types it is made of.
type CallInterface = grpc.ServerInterceptingCallInterface;
type Listener = Parameters<CallInterface["start"]>[0];
export interface RefusalStatus {
  code: grpc.status;
  details: string;
}

/**
 * The gRPC port's share of ArrivingBodies: each call's message counts from the moment the call
 * asks for it until it has arrived whole, by the bytes received so far — and a unary or
 * server-streaming call's, which grpc-js keeps for the handler, until the request ends. A call whose bytes would
 * pass the listener's bound is refused (RESOURCE_EXHAUSTED, retryable); one whose message is not
 * whole after body_timeout_ms is cancelled (DEADLINE_EXCEEDED).
 *
 * grpc-js decodes messages itself and has no public hook that shows the bytes before a message is
 * whole, so the bytes are seen on the call's HTTP/2 stream, which grpc-js keeps in the `stream`
 * field of its innermost call object: a second 'data' listener on a stream grpc-js has paused
 * observes what grpc-js reads without changing when it reads. test/e2e/arriving-bodies.test.ts
 * fails if a grpc-js release moves it; at run time the listener says so in its log, once.
 * (Judging by time alone whether a message "should" have arrived does not work: a busy event
 * loop, or HTTP/2 flow control, delays honest messages as much as a slow sender does.)
 */
export function arrivingMessagesInterceptor(
  bodies: ArrivingBodies,
  /** Hears of every call refused or cancelled here (for its audit record). */
  refused: (path: string, call: CallInterface, metadata: grpc.Metadata | undefined, status: RefusalStatus) => void,
  /** Told once if grpc-js no longer shows its streams (no message is then bounded here). */
  unobservable: () => void,
): grpc.ServerInterceptor {
  let warned = false;
  return (method, next) => {
    const stream = (next as unknown as { stream?: unknown }).stream;
    if (!isStream(stream)) {
      if (!warned) {
        warned = true;
        unobservable();
      }
      return next as grpc.ServerInterceptingCall;
    }
    return new WatchedCall(
      method.path,
      method.requestStream,
      next,
      stream,
      bodies,
      refused,
    ) as unknown as grpc.ServerInterceptingCall;
  };
}

function isStream(value: unknown): value is ServerHttp2Stream {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as ServerHttp2Stream).on === "function" &&
    "session" in value
  );
}

/**
 * One call, forwarded as is, except that the message it reads is counted while it arrives. It is
 * also the listener grpc-js reports to (one object per call).
 */
class WatchedCall implements CallInterface, Listener {
  private hold: BodyHold | undefined;
  private listener: Listener | undefined;
  private metadata: grpc.Metadata | undefined;
  private observing = false;

  constructor(
    private readonly path: string,
    /** The call reads a stream of messages (each handed on as it arrives), not one kept until the request ends. */
    private readonly requestStream: boolean,
    private readonly next: CallInterface,
    private readonly stream: ServerHttp2Stream,
    private readonly bodies: ArrivingBodies,
    private readonly refused: (
      path: string,
      call: CallInterface,
      metadata: grpc.Metadata | undefined,
      status: RefusalStatus,
    ) => void,
  ) {}

  start(listener: Listener): void {
    this.listener = listener;
    this.next.start(this);
  }

  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.metadata = metadata;
    this.listener!.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    // A unary or server-streaming call's one message is kept by grpc-js until the request ends: it
    // stays counted while grpc-js awaits the end (the next read), which has body_timeout_ms anew.
    if (this.requestStream) this.readEnded();
    else this.hold?.renew();
    this.listener!.onReceiveMessage(message);
  }

  onReceiveHalfClose(): void {
    this.readEnded();
    this.listener!.onReceiveHalfClose();
  }

  onCancel(): void {
    this.readEnded();
    this.listener!.onCancel();
  }

  startRead(): void {
    this.hold ??= this.bodies.hold(this.late);
    if (!this.observing) {
      this.observing = true;
      this.stream.on("data", this.counted);
    }
    this.next.startRead();
  }

  /** Each chunk grpc-js reads while a message is awaited counts against the listener's bound. */
  private readonly counted = (chunk: Buffer): void => {
    if (!this.hold || this.hold.take(chunk.byteLength)) return;
    this.refuse({
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: tooMuchArrivingMessage(this.bodies.maxBytes),
    });
  };

  private readonly late = (): void =>
    this.refuse({
      code: grpc.status.DEADLINE_EXCEEDED,
      details: `the request message did not arrive within limits.body_timeout_ms (${this.bodies.timeoutMs} ms)`,
    });

  /** Ends the call with `status`; grpc-js then drops what the stream still sends, and what its message held. */
  private refuse(status: RefusalStatus): void {
    this.readEnded();
    this.stream.off("data", this.counted);
    this.refused(this.path, this.next, this.metadata, status);
    this.next.sendStatus(status);
    // The answer is complete; RST_STREAM (NO_ERROR) tells the caller to stop sending (RFC 9113
    // §8.1) and lets the stream, and the part of the message grpc-js holds, go now.
    this.stream.close(NGHTTP2_NO_ERROR);
  }

  private readEnded(): void {
    if (this.hold) {
      this.hold.close();
      this.hold = undefined;
    }
  }

  sendMetadata(metadata: grpc.Metadata): void {
    this.next.sendMetadata(metadata);
  }

  sendMessage(message: unknown, callback: () => void): void {
    this.next.sendMessage(message, callback);
  }

  sendStatus(status: Parameters<CallInterface["sendStatus"]>[0]): void {
    this.next.sendStatus(status);
  }

  getPeer(): string {
    return this.next.getPeer();
  }

  getDeadline(): grpc.Deadline {
    return this.next.getDeadline();
  }

  getHost(): string {
    return this.next.getHost();
  }

  getAuthContext(): ReturnType<CallInterface["getAuthContext"]> {
    return this.next.getAuthContext();
  }

  getConnectionInfo(): ReturnType<CallInterface["getConnectionInfo"]> {
    return this.next.getConnectionInfo();
  }

  getMetricsRecorder(): ReturnType<CallInterface["getMetricsRecorder"]> {
    return this.next.getMetricsRecorder();
  }
}
