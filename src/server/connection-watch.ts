import type { Http2Session, Http2Stream } from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { FaultKind } from "./listener-faults.js";

/**
 * How long an idle HTTP/2 connection, sent its GOAWAY, may take to close before it is destroyed:
 * a graceful close waits for the streams nghttp2 knows of, including one whose header block never
 * ended (issue 24), so it is not left to finish on its own.
 */
export const GOAWAY_GRACE_MS = 1_000;

/** What a connection's watch needs of its listener (listener-connections.ts). */
export interface WatchOwner {
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** The clock every deadline is read from. */
  now(): number;
  /** A connection's first request started (it is no longer one to make room with). */
  busy(watch: ConnectionWatch): void;
  /** A connection's last request in flight ended. */
  idle(watch: ConnectionWatch): void;
  /** Counts a deadline's close. */
  deadline(kind: FaultKind): void;
}

/**
 * One accepted connection's state and deadlines, from its first byte to its close. Each state has
 * a bound (docs/security.md, "Connections"):
 *
 * - accepted (a TLS handshake, then the first request head, or the HTTP/2 preface and SETTINGS):
 *   `headerTimeoutMs` (with TLS, the handshake first gets as long again);
 * - an HTTP/2 header block (HEADERS and CONTINUATION frames until END_HEADERS) begun and not
 *   ended: `headerTimeoutMs` from when it is first seen, whatever else the connection is doing (a
 *   later HTTP/1 request head has the same bound from Node's headersTimeout: http-listener.ts);
 * - no request in flight: `idleTimeoutMs` since the last one ended, then an HTTP/2 connection gets
 *   a GOAWAY and GOAWAY_GRACE_MS to close, an HTTP/1 one is closed;
 * - requests in flight: bounded by the requests' own limits (body_timeout_ms, the call's work),
 *   and answers waiting for a peer that takes none of them (an HTTP/2 flow-control window it does
 *   not open, an HTTP/1 socket it does not read): `idleTimeoutMs` without a byte written.
 *
 * A deadline missed destroys the connection: nothing the peer does or leaves undone (a graceful
 * close nghttp2 cannot complete included) keeps it open. The listener's ListenerConnections checks
 * every watch on one timer; requests starting and ending only move numbers.
 *
 * HTTP/2 is followed without reading a byte of it: the session (Node's, or grpc-js's) reports its
 * streams as their header blocks end, and nghttp2 the last stream whose header block began
 * (`lastProcStreamID`). Frames are parsed natively, on the socket's handle; watching them in
 * JavaScript would put every byte of the hot path through a JavaScript stream.
 */
export class ConnectionWatch {
  readonly acceptedAt: number;
  private served: Duplex | undefined;
  private inFlight = 0;
  private proven = false;
  private deadline: number;
  private lastIdle: number;
  private pendingSince: number | undefined;
  private headerPending: (() => boolean) | undefined;
  /** Bytes of HTTP/2 responses waiting for the peer's flow-control window. */
  private responsesWaiting: (() => number) | undefined;
  /** The bytes written when a check last saw answers waiting. */
  private writtenWhenChecked = 0;
  private stalledSince: number | undefined;
  private session: Http2Session | undefined;
  private goingAway = false;
  private ended = false;

  constructor(
    /** The accepted TCP socket (under TLS, the one the TLS socket runs on). */
    readonly socket: Socket,
    /** The peer it counts against (listener-connections.ts, peerOf). */
    readonly peer: string,
    private readonly owner: WatchOwner,
    tls: boolean,
  ) {
    const now = owner.now();
    this.acceptedAt = now;
    this.lastIdle = now;
    this.deadline = now + owner.headerTimeoutMs * (tls ? 2 : 1);
  }

  /** Whether a request is in flight. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** When its last request ended (or it was proven, if none has yet). */
  get idleSince(): number {
    return this.lastIdle;
  }

  /** Whether it was closed by a deadline, or to make room. */
  get destroyed(): boolean {
    return this.ended;
  }

  /**
   * The connection is handed to its protocol (under TLS, once its handshake is done): its first request head is
   * due.
   */
  serving(socket: Duplex): void {
    this.served = socket;
    if (!this.proven) this.deadline = this.owner.now() + this.owner.headerTimeoutMs;
  }

  /**
   * Watches an HTTP/2 session on this connection: SETTINGS prove it, streams are its requests, and
   * a header block has begun but not ended while nghttp2's last stream whose block began is not one
   * Node has handed over (a block that ends malformed counts as unended until the next stream).
   */
  watchHttp2(session: Http2Session): void {
    this.session = session;
    let lastStream = 0;
    session.once("remoteSettings", () => this.provenNow());
    const streams = new Set<Http2Stream>();
    const watch = this;
    // One listener function for every stream's close (the stream is its `this`).
    function ended(this: Http2Stream): void {
      streams.delete(this);
      watch.requestEnded();
    }
    session.on("stream", (stream) => {
      if (stream.id > lastStream) lastStream = stream.id;
      streams.add(stream);
      this.requestStarted();
      stream.once("close", ended);
    });
    this.headerPending = () => (session.state.lastProcStreamID ?? 0) > lastStream;
    this.responsesWaiting = () => {
      let bytes = 0;
      for (const stream of streams) bytes += stream.bufferSize;
      return bytes;
    };
  }

  /** The first request head, or the HTTP/2 preface and SETTINGS, arrived. */
  provenNow(): void {
    if (this.proven) return;
    this.proven = true;
    if (this.inFlight === 0) this.lastIdle = this.owner.now();
  }

  requestStarted(): void {
    if (this.inFlight++ === 0) this.owner.busy(this);
    this.provenNow();
  }

  requestEnded(): void {
    if (--this.inFlight > 0) return;
    this.lastIdle = this.owner.now();
    this.owner.idle(this);
  }

  /** Closes the connection now (a deadline missed, or room made for another). */
  destroy(): void {
    this.ended = true;
    this.served?.destroy();
    this.socket.destroy();
  }

  /** Called by the listener's timer: applies whichever deadline has passed. */
  check(now: number): void {
    if (this.ended || this.goingAway) return;
    if (!this.proven) {
      if (now >= this.deadline) this.expire("header_timeout");
      return;
    }
    if (this.headerPending?.()) {
      this.pendingSince ??= now;
      if (now - this.pendingSince >= this.owner.headerTimeoutMs) return this.expire("header_timeout");
    } else {
      this.pendingSince = undefined;
    }
    if (this.inFlight === 0) {
      this.stalledSince = undefined;
      if (now - this.lastIdle >= this.owner.idleTimeoutMs) this.goAway();
      return;
    }
    if (this.responseStalled(now) && now - this.stalledSince! >= this.owner.idleTimeoutMs) this.expire("idle_timeout");
  }

  /**
   * Whether answers wait to be written (in an HTTP/2 stream's buffer, for a window the peer has not
   * opened; in the socket's, for a peer that does not read); `stalledSince` is then the first check
   * since the socket last wrote a byte. A connection whose answers wait and that writes nothing
   * moves nothing, like an idle one, whatever it has in flight; a slow reader is not stalled.
   */
  private responseStalled(now: number): boolean {
    const served = this.served as (Duplex & { bytesWritten?: number }) | undefined;
    const waiting = (served?.writableLength ?? 0) + (this.responsesWaiting?.() ?? 0);
    if (waiting === 0) {
      this.stalledSince = undefined;
      return false;
    }
    const written = served?.bytesWritten ?? 0;
    if (this.stalledSince === undefined || written !== this.writtenWhenChecked) {
      this.writtenWhenChecked = written;
      this.stalledSince = now;
    }
    return true;
  }

  private expire(kind: FaultKind): void {
    this.owner.deadline(kind);
    this.destroy();
  }

  /** Idle too long: an HTTP/2 session is told to go away first, and destroyed if it has not closed a grace later. */
  private goAway(): void {
    this.owner.deadline("idle_timeout");
    const session = this.session;
    if (!session || session.closed || session.destroyed) return this.destroy();
    this.goingAway = true;
    try {
      session.close();
    } catch {
      return this.destroy();
    }
    setTimeout(() => this.destroy(), GOAWAY_GRACE_MS).unref();
  }
}
