import { dirname } from "node:path";
import type { Logger } from "pino";
import type { WriterHealth } from "./append-writer.js";
import { type AuditList, serializeRecord } from "./audit-record.js";
import { AuditTail } from "./audit-tail.js";
import { ConfigError } from "./config/config-error.js";
import { Code, ServiceError } from "./core/errors.js";
import { createLogDestination, type LogDestination } from "./log.js";
import { auditHealthMetrics } from "./metrics/metrics.js";
import { makePrivateDirectory, openPrivateFileForAppend } from "./storage/private-files.js";

/** Records are handed to the destination once this much is pending... */
const HAND_OVER_BYTES = 64 * 1024;
/** ...or, under fail_open, this long after the first of them. */
const HAND_OVER_MS = 50;

/** What happens to a call whose audit record cannot be written (`audit.on_failure`). */
export type AuditFailureMode = "fail_closed" | "fail_open";

/** The audit log's health, for /readyz and the metrics. */
export interface AuditHealth {
  /** `writing` while records reach their destination; `failing` while writes to it fail. */
  state: "writing" | "failing";
  onFailure: AuditFailureMode;
  destination: "file" | "stdout";
  /** The failing write's error code (e.g. ENOSPC); never a path. */
  error?: string;
}

/** A batch of records whose calls wait for it to be written (fail_closed). */
interface Batch {
  written: Promise<void>;
  resolve: () => void;
  reject: (refusal: ServiceError) => void;
  /** Records in it: the calls refused if it cannot be written. */
  records: number;
}

/**
 * Audit records: one JSON object per line per RPC — identity, method, names, team, outcome per
 * item, from_cache, version, client address — including cache hits, never values. They go to
 * their own destination: appended to a file when configured, else to stdout through the log's
 * own stream (so lines never interleave). The record doubles as the access log line.
 *
 * A record is at most 4 KiB, whatever the request held (src/audit-record.ts). Records are
 * serialised with JSON.stringify rather than through a pino logger (pino's per-key
 * serialisation cost about 10 µs of a cached Read), and reach the destination in batches,
 * encoded once.
 *
 * **When a call may be answered** (`audit.on_failure`, docs/operations.md "Audit"):
 * - `fail_closed` (the default): a call is answered OK only once its record is written — handed
 *   to the kernel by `write(2)`, no `fsync`: it survives the process being killed, not the
 *   machine losing power. Records of one event-loop turn go out together in one write, and the
 *   answers wait for it (group commit). When the write fails, the calls waiting on it are refused
 *   with UNAVAILABLE (what they did stands: their records stay queued and are written once the
 *   destination takes writes again), and until it does, every call is refused before it runs.
 * - `fail_open`: calls are answered at once; records follow in batches of 64 KiB or 50 ms. While
 *   writes fail, records are kept (up to 32 MiB) and written once they work again; past that
 *   they are dropped. Both modes count what they refused, answered unwritten and dropped, and log
 *   at error once when writes start failing and once when they work again.
 *
 * `write` returns what the caller waits on, so the dispatcher needs no knowledge of the mode; a
 * writer on another thread (a worker) would resolve the same promises from its messages.
 */
export class AuditLog {
  /** The live feed behind TailAudit. */
  readonly tail = new AuditTail();
  private readonly destination: LogDestination;
  /** The audit file's own destination, which this log closes. */
  private readonly file: LogDestination | undefined;
  private readonly mode: AuditFailureMode;
  private readonly logger: Logger | undefined;
  private readonly metrics = auditHealthMetrics();
  private pending: string[] = [];
  /** UTF-16 units pending, a lower bound of their UTF-8 bytes. */
  private pendingLength = 0;
  private batch: Batch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private readonly flushSoon = () => this.flush();
  /** Writes to the destination fail (kept here: the hot path asks it without building the destination's health). */
  private failing = false;
  /** Refuses calls before they run (fail_closed while writes fail); undefined while records are written. */
  private refusal: ServiceError | undefined;
  /** This failure's counts, logged when writes work again. */
  private burst = { refused: 0, answeredUnwritten: 0, dropped: 0 };

  constructor(options: {
    file: string | undefined;
    stdout: LogDestination;
    onFailure?: AuditFailureMode;
    logger?: Logger;
  }) {
    this.mode = options.onFailure ?? "fail_closed";
    this.file = options.file ? openAuditFile(options.file, this.mode === "fail_closed") : undefined;
    this.destination = this.file ?? options.stdout;
    this.logger = options.logger;
    this.destination.onHealth((health) => this.healthChanged(health));
    this.metrics.writing(true);
  }

  get health(): AuditHealth {
    const { writing, error } = this.destination.health;
    return {
      state: writing ? "writing" : "failing",
      onFailure: this.mode,
      destination: this.file ? "file" : "stdout",
      ...(error !== undefined ? { error } : {}),
    };
  }

  /**
   * The refusal of a call about to run, counted, when its record could not be written now
   * (fail_closed while writes fail); undefined when it may run.
   */
  refuse(): ServiceError | undefined {
    if (!this.refusal) return undefined;
    this.metrics.refused(1);
    this.burst.refused++;
    return this.refusal;
  }

  /**
   * Queues one record, with its one list if it has one (see serializeRecord for what fits).
   * Returns undefined when its call may be answered at once (fail_open); else a promise that
   * resolves once the record is written and rejects with UNAVAILABLE if it cannot be.
   */
  write(record: Record<string, unknown>, list?: AuditList): Promise<void> | undefined {
    record.time = Date.now();
    record.audit = true;
    record.msg = "rpc";
    const line = serializeRecord(record, list);
    this.pending.push(line);
    this.tail.publish(line);
    this.pendingLength += line.length + 1;
    if (this.mode === "fail_open") {
      if (this.failing) {
        this.metrics.answeredUnwritten(1);
        this.burst.answeredUnwritten++;
      }
      if (this.pendingLength >= HAND_OVER_BYTES) this.flush();
      else this.timer ??= setTimeout(this.flushSoon, HAND_OVER_MS).unref();
      return undefined;
    }
    this.batch ??= this.openBatch();
    const batch = this.batch;
    batch.records++;
    if (this.pendingLength >= HAND_OVER_BYTES) this.flush();
    return batch.written;
  }

  /** Hands the records written so far to the destination, which writes them in the background. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    const batch = this.batch;
    this.batch = undefined;
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    this.pendingLength = 0;
    const queued = this.destination.writeBytes(Buffer.from(`${lines.join("\n")}\n`, "utf8"));
    if (!queued) {
      // The destination already holds 32 MiB it cannot write: these records are lost.
      this.metrics.dropped(lines.length);
      this.burst.dropped += lines.length;
      if (batch) this.refuseBatch(batch, "the audit log holds too much it cannot write");
      return;
    }
    if (batch) {
      this.destination.whenWritten((error) => {
        if (error) this.refuseBatch(batch, (error as NodeJS.ErrnoException).code ?? error.message);
        else batch.resolve();
      });
    }
  }

  /**
   * Opens the audit file again by its path (SIGHUP, after logrotate renamed it); records keep their order, none is
   * written twice.
   */
  reopen(): void {
    this.flush();
    this.file?.reopen();
  }

  /** Writes out everything written so far and closes the audit file (stdout is flushed with the log). */
  async close(): Promise<void> {
    this.flush();
    const unwritten = await this.file?.close();
    if (unwritten)
      this.logger?.error({ bytes: unwritten }, "audit records could not be written before shutdown; they are lost");
  }

  private openBatch(): Batch {
    let resolve!: () => void;
    let reject!: (refusal: ServiceError) => void;
    const written = new Promise<void>((onWritten, onFailed) => {
      resolve = onWritten;
      reject = onFailed;
    });
    // A batch nobody waits on (records of refused calls) must not be an unhandled rejection.
    written.catch(() => undefined);
    // Every record of this event-loop turn joins it; it goes out once the turn's I/O is handled.
    this.immediate = setImmediate(this.flushSoon);
    return { written, resolve, reject, records: 0 };
  }

  private refuseBatch(batch: Batch, reason: string): void {
    this.metrics.refused(batch.records);
    this.burst.refused += batch.records;
    batch.reject(auditUnavailable(reason));
  }

  private healthChanged(health: WriterHealth): void {
    this.failing = !health.writing;
    this.metrics.writing(health.writing);
    if (!health.writing) {
      this.refusal = this.mode === "fail_closed" ? auditUnavailable(health.error ?? "write failed") : undefined;
      this.burst = { refused: 0, answeredUnwritten: 0, dropped: 0 };
      this.logger?.error(
        { error: health.error, onFailure: this.mode, destination: this.file ? "file" : "stdout" },
        this.mode === "fail_closed"
          ? "audit records cannot be written: refusing every call until they can (audit.on_failure: fail_closed)"
          : "audit records cannot be written: answering calls without them, keeping " +
              "up to 32 MiB of records to write later (audit.on_failure: fail_open)",
      );
      return;
    }
    this.refusal = undefined;
    this.logger?.warn({ ...this.burst, onFailure: this.mode }, "audit records are written again");
  }
}

function auditUnavailable(reason: string): ServiceError {
  return new ServiceError(
    Code.Unavailable,
    `the audit log cannot be written (${reason}), and audit.on_failure is ` +
      `fail_closed: calls are refused until it can be; a call already under ` +
      `way keeps its effect and its record is written later`,
  );
}

/**
 * Opened at start-up, synchronously, so that a file that cannot be opened stops the start with a
 * message naming the setting. A file or directory made for it is private to the service; a file
 * opened again later (SIGHUP, or while writes fail) is created the same way.
 *
 * Under fail_closed (`sync`) each turn's batch is written on the event loop itself, at the end of
 * the turn: the turn's answers wait for that write anyway, and a write handed to libuv's thread
 * pool instead cost more CPU per call than the write (docs/performance.md, "What a cache-hit Read
 * costs", gives the figures). The price: a
 * disk that stalls stalls the process for as long (probes included), when under fail_closed no
 * answer could leave anyway. Moving the writes to a worker thread removes it. Stdout (shared with
 * the log, possibly a pipe a slow collector drains) is always written from the thread pool.
 */
function openAuditFile(file: string, sync: boolean): LogDestination {
  let fd: number;
  try {
    makePrivateDirectory(dirname(file));
    fd = openPrivateFileForAppend(file);
  } catch (error) {
    throw new ConfigError(`secretgate.audit.file: cannot open ${file} for appending: ${(error as Error).message}`);
  }
  return createLogDestination(fd, { path: file, open: openPrivateFileForAppend, sync });
}
