import { close, closeSync, write, writeSync } from "node:fs";

/**
 * Whether bytes reach the descriptor: `error` is the failing write's code (e.g. ENOSPC), `since` when it began
 * failing.
 */
export interface WriterHealth {
  writing: boolean;
  error?: string;
  since?: number;
}

/** The first retry after a failed write, doubling up to the last. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 1_000;
/** A full pipe (EAGAIN: its reader is behind) is not a failure: the write is tried again this soon. */
const BUSY_RETRY_MS = 10;

/**
 * Appends bytes to one file descriptor in order, one write in flight at a time, and tells its
 * callers when what they appended has been written (handed to the kernel: `write(2)` returned, no
 * `fsync`). Log lines and audit records share it, so that a caller can be answered only once its
 * audit record is written (audit.on_failure: fail_closed).
 *
 * A write that fails (ENOSPC on a full disk, EIO, EPIPE…) loses nothing and throws nothing: the
 * bytes stay queued, every caller waiting on them is told at once, and the write is retried
 * (after 0.1 s, doubling to 1 s) until it succeeds, when the writer reports itself healthy again.
 * With a `path`, each retry first opens the path anew, so that an operator who moved or deleted
 * the full file to free space (or pointed the path at another disk) gets a new file. What is
 * queued is bounded (`maxQueuedBytes`): past it `append` refuses, and the caller counts the loss.
 *
 * sonic-boom (pino's destination) was not used here: on a failed write it emits an `error` event
 * (which took the process down) and it cannot say when a given byte was written.
 */
export class AppendWriter {
  private fd: number;
  /** Appended, not yet handed to a write. */
  private chunks: Buffer[] = [];
  /** Handed to the write in flight or failed (its unwritten rest). */
  private current: Buffer | undefined;
  /** Part of `current` was written: its rest must follow in the same file. */
  private partial = false;
  private writing = false;
  /** Bytes appended and bytes written since the start: a caller waits for `written` to pass its offset. */
  private appended = 0;
  private written = 0;
  private waiters: Array<{ upTo: number; done: (error?: Error) => void }> = [];
  private failure: NodeJS.ErrnoException | undefined;
  private failingSince = 0;
  private retryDelayMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private reopenWanted = false;
  private closed = false;
  private idle: (() => void) | undefined;

  constructor(
    fd: number,
    private readonly options: {
      /** The file's path, reopened by `reopen` and before each retry; none for stdout. */
      path?: string;
      /** Opens `path` for appending (the service's own mode and flags). */
      open?: (path: string) => number;
      maxQueuedBytes: number;
      /** Write on the calling thread (writeSync) instead of libuv's thread pool. */
      sync?: boolean;
      /** Told when writes start failing and when they work again. */
      onHealth?: (health: WriterHealth) => void;
    },
  ) {
    this.fd = fd;
  }

  get health(): WriterHealth {
    return this.failure
      ? { writing: false, error: this.failure.code ?? this.failure.message, since: this.failingSince }
      : { writing: true };
  }

  /** Bytes appended and not yet written. */
  get queuedBytes(): number {
    return this.appended - this.written;
  }

  /** Queues `chunk` and starts writing it; false, with nothing queued, when that would pass the bound. */
  append(chunk: Buffer): boolean {
    if (this.closed || this.queuedBytes + chunk.length > this.options.maxQueuedBytes) return false;
    this.chunks.push(chunk);
    this.appended += chunk.length;
    this.pump();
    return true;
  }

  /**
   * Calls `done` once everything appended so far is written, or with the error as soon as a write
   * of it fails (at once while writes are failing). The bytes stay queued either way.
   */
  whenWritten(done: (error?: Error) => void): void {
    if (this.written >= this.appended) return done();
    if (this.failure) return done(this.failure);
    this.waiters.push({ upTo: this.appended, done });
  }

  /**
   * Opens the path anew (SIGHUP after logrotate renamed the file): once the write in flight has
   * ended, later bytes go to the new file; none is written twice or split between the two.
   */
  reopen(): void {
    if (!this.options.path || this.closed) return;
    this.reopenWanted = true;
    if (!this.writing && !this.partial) this.reopenNow();
    this.pump();
  }

  /** Writes what is queued synchronously (the process is exiting); gives up on a failing descriptor. */
  flushSync(): void {
    if (this.writing || this.failure) return;
    try {
      for (let chunk = this.next(); chunk; chunk = this.next()) {
        const n = writeSync(this.fd, chunk);
        this.settle(chunk, n);
      }
    } catch {
      // Exiting: what cannot be written now is lost, as the caller's log says.
    }
  }

  /**
   * Waits until everything queued is written (at most `graceMs` while writes fail), then closes the
   * descriptor. Resolves with the bytes left unwritten.
   */
  async close(graceMs: number, closeFd = true): Promise<number> {
    if (this.queuedBytes > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.idle = () => {
          clearTimeout(timer);
          resolve();
        };
        this.pump();
      });
    }
    this.closed = true;
    this.idle = undefined;
    clearTimeout(this.retryTimer);
    const unwritten = this.queuedBytes;
    if (closeFd && !this.writing) close(this.fd, () => undefined);
    return unwritten;
  }

  private pump(): void {
    if (this.writing || this.failure) return;
    const chunk = this.next();
    if (!chunk) {
      this.idle?.();
      return;
    }
    this.writeChunk(chunk);
  }

  /**
   * The bytes to write next: the rest of a failed or partial write first, then everything appended since, as one
   * buffer.
   */
  private next(): Buffer | undefined {
    if (!this.current && this.chunks.length > 0) {
      this.current = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      this.chunks = [];
    }
    return this.current;
  }

  private writeChunk(chunk: Buffer): void {
    if (this.options.sync) return this.writeChunkNow(chunk);
    this.writing = true;
    const fd = this.fd;
    write(fd, chunk, 0, chunk.length, null, (error, n) => {
      this.writing = false;
      if (this.closed) {
        // Closed while this write was in flight (the grace ran out): the descriptor is released now.
        if (!error) this.settle(chunk, n);
        close(fd, () => undefined);
        return;
      }
      if (error) return this.failed(error);
      this.settle(chunk, n);
      if (this.failure) this.recovered();
      if (this.reopenWanted && !this.partial) this.reopenNow();
      this.pump();
    });
  }

  private writeChunkNow(chunk: Buffer): void {
    let n: number;
    try {
      n = writeSync(this.fd, chunk);
    } catch (error) {
      return this.failed(error as NodeJS.ErrnoException);
    }
    this.settle(chunk, n);
    if (this.failure) this.recovered();
    if (this.reopenWanted && !this.partial) this.reopenNow();
    this.pump();
  }

  /** `n` bytes of `chunk` were written: what waited on them is told. */
  private settle(chunk: Buffer, n: number): void {
    this.written += n;
    this.current = n >= chunk.length ? undefined : chunk.subarray(n);
    this.partial = this.current !== undefined && (this.partial || n > 0);
    while (this.waiters.length > 0 && this.waiters[0]!.upTo <= this.written) this.waiters.shift()!.done();
  }

  private failed(error: NodeJS.ErrnoException): void {
    if (error.code === "EAGAIN") {
      this.retryTimer = setTimeout(() => this.retry(), BUSY_RETRY_MS);
      return;
    }
    if (!this.failure) {
      this.failure = error;
      this.failingSince = Date.now();
      this.retryDelayMs = RETRY_MIN_MS;
      this.options.onHealth?.(this.health);
    }
    this.failure = error;
    for (const waiter of this.waiters.splice(0)) waiter.done(error);
    if (this.closed) return;
    this.retryTimer = setTimeout(() => this.retry(), this.retryDelayMs);
    this.retryTimer.unref();
    this.retryDelayMs = Math.min(RETRY_MAX_MS, this.retryDelayMs * 2);
  }

  private retry(): void {
    if (this.closed) return;
    // While writes fail, each retry opens the path anew; a new file only at a batch's boundary:
    // the rest of a half-written batch stays with its start.
    if ((this.failure || this.reopenWanted) && !this.partial) this.reopenNow();
    const chunk = this.next();
    if (chunk) this.writeChunk(chunk);
    else if (this.failure) this.recovered();
  }

  private recovered(): void {
    this.failure = undefined;
    this.options.onHealth?.(this.health);
  }

  private reopenNow(): void {
    this.reopenWanted = false;
    const { path, open } = this.options;
    if (!path || !open) return;
    let fd: number;
    try {
      fd = open(path);
    } catch {
      // The old descriptor stays; the next retry (or SIGHUP) tries again.
      return;
    }
    const old = this.fd;
    this.fd = fd;
    try {
      closeSync(old);
    } catch {
      // Already gone: nothing to release.
    }
  }
}
