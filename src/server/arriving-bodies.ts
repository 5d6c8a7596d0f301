import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Request bodies still arriving on one listener, bounded in bytes and in time.
 *
 * A request's message is held in memory until it is complete, and a caller decides how slowly it
 * completes: 300 connections each sending all but the last byte of a 4 MiB body held 1.2 GB of
 * the service's memory for as long as they stayed open, before anything was authenticated. So
 * what all bodies still arriving hold together is bounded (`limits.max_arriving_body_bytes`; past
 * it a body is refused, RESOURCE_EXHAUSTED), and each must be complete within
 * `limits.body_timeout_ms` of being opened (past it the request is cancelled).
 *
 * One timer per listener, running only while a body is open, finds the late ones; opening and
 * closing a hold is a Set insert and delete.
 */
export class ArrivingBodies {
  private held = 0;
  private readonly open = new Set<BodyHold>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly maxBytes: number,
    readonly timeoutMs: number,
    /** Called with each hold whose body did not complete in time, after it is closed. */
    private readonly onLate: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bytes the open bodies hold now. */
  get heldBytes(): number {
    return this.held;
  }

  get openCount(): number {
    return this.open.size;
  }

  /**
   * A body starts arriving. `cancel` ends its request when it is late; the hold is closed first.
   * Whoever opens a hold closes it when the body is complete or the request is gone.
   */
  hold(cancel: () => void): BodyHold {
    const hold = new BodyHold(this, this.deadlineFromNow(), cancel);
    this.open.add(hold);
    this.timer ??= this.schedule();
    return hold;
  }

  /** @internal */
  take(bytes: number): boolean {
    if (this.held + bytes > this.maxBytes) return false;
    this.held += bytes;
    return true;
  }

  /** @internal The deadline of a hold whose time starts now. */
  deadlineFromNow(): number {
    return this.now() + this.timeoutMs;
  }

  /** @internal */
  release(hold: BodyHold, bytes: number): void {
    this.held -= bytes;
    this.open.delete(hold);
  }

  /** Stops watching (the listener is closing; its connections go with it). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const hold of [...this.open]) hold.close();
  }

  private schedule(): NodeJS.Timeout {
    // Checked at a tenth of the timeout (at most once a second): a late body is cancelled within 10 % of its time.
    const timer = setTimeout(() => this.sweep(), Math.min(1_000, Math.max(1, Math.floor(this.timeoutMs / 10))));
    timer.unref();
    return timer;
  }

  private sweep(): void {
    this.timer = undefined;
    const now = this.now();
    for (const hold of [...this.open]) {
      if (hold.deadline > now) continue;
      hold.close();
      this.onLate();
      hold.cancel();
    }
    if (this.open.size > 0) this.timer = this.schedule();
  }
}

/** One request's share of an ArrivingBodies. */
export class BodyHold {
  private bytes = 0;
  private closed = false;

  constructor(
    private readonly bodies: ArrivingBodies,
    public deadline: number,
    readonly cancel: () => void,
  ) {}

  /**
   * The request's next part starts arriving: a gRPC call's message is whole, and the end of its
   * request is awaited for body_timeout_ms more (as grpc-js, which asks for the next read). What the
   * hold holds stays counted — the message is kept until the request ends, and a stream that never
   * ends must not hold it outside the listener's bound.
   */
  renew(): void {
    if (this.closed) return;
    this.deadline = this.bodies.deadlineFromNow();
  }

  /** The listener's bound (max_arriving_body_bytes), for the refusal that names it. */
  get maxBytes(): number {
    return this.bodies.maxBytes;
  }

  /** Counts `bytes` more of this body; false (holding nothing more) when that would pass the listener's bound. */
  take(bytes: number): boolean {
    if (this.closed || !this.bodies.take(bytes)) return false;
    this.bytes += bytes;
    return true;
  }

  /** The body is complete, refused or gone: what it held is free for others. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bodies.release(this, this.bytes);
    this.bytes = 0;
  }
}

/** Why a body that would pass `limits.max_arriving_body_bytes` is refused (RESOURCE_EXHAUSTED, on either port). */
export function tooMuchArrivingMessage(maxBytes: number): string {
  return (
    `the server holds as much of request bodies still arriving as ` +
    `limits.max_arriving_body_bytes allows (${maxBytes}); retry shortly`
  );
}

/** The refusal of a body that would pass `limits.max_arriving_body_bytes`, as the HTTP port answers it. */
export function tooMuchArriving(maxBytes: number): ConnectError {
  return new ConnectError(tooMuchArrivingMessage(maxBytes), Code.ResourceExhausted);
}
