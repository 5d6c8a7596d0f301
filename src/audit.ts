import { dirname } from "node:path";
import { serializeRecord, type AuditList } from "./audit-record.js";
import { AuditTail } from "./audit-tail.js";
import { ConfigError } from "./config/config-error.js";
import { createLogDestination, type LogDestination } from "./log.js";
import { makePrivateDirectory, openPrivateFileForAppend } from "./storage/private-files.js";

/** Records are handed to the destination once this much is pending... */
const HAND_OVER_BYTES = 64 * 1024;
/** ...or this long after the first of them. */
const HAND_OVER_MS = 50;

/**
 * Audit records: one JSON object per line per RPC — identity, method, names, team, outcome per
 * item, from_cache, version, client address — including cache hits, never values. They go to
 * their own destination: appended to a file when configured, else to stdout through the log's
 * own stream (so lines never interleave). The record doubles as the access log line.
 *
 * A record is at most 4 KiB, whatever the request held (src/audit-record.ts). Records are
 * serialised with JSON.stringify rather than through a pino logger (pino's per-key
 * serialisation cost about 10 µs of a cached Read), and reach the destination in batches,
 * encoded once (see createLogDestination): 64 KiB of them, or whatever 50 ms gathered. Handing
 * over each event-loop turn's lines (a setImmediate, a join and an encoding per turn, and a
 * file write per 4 KiB) cost ~5 % of a cached Read's time over gRPC at a fixed 8,000 req/s.
 */
export class AuditLog {
  /** The live feed behind TailAudit. */
  readonly tail = new AuditTail();
  private readonly destination: LogDestination;
  /** The audit file's own destination, which this log flushes on close. */
  private readonly file: LogDestination | undefined;
  private pending: string[] = [];
  /** UTF-16 units pending, a lower bound of their UTF-8 bytes. */
  private pendingLength = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly flushSoon = () => this.flush();

  constructor(options: { file: string | undefined; stdout: LogDestination }) {
    this.file = options.file ? createLogDestination(openAuditFile(options.file)) : undefined;
    this.destination = this.file ?? options.stdout;
  }

  /** Queues one record, with its one list if it has one; see serializeRecord for what fits. */
  write(record: Record<string, unknown>, list?: AuditList): void {
    record.time = Date.now();
    record.audit = true;
    record.msg = "rpc";
    const line = serializeRecord(record, list);
    this.pending.push(line);
    this.tail.publish(line);
    this.pendingLength += line.length + 1;
    if (this.pendingLength >= HAND_OVER_BYTES) this.flush();
    else this.timer ??= setTimeout(this.flushSoon, HAND_OVER_MS).unref();
  }

  /** Hands the records written so far to the destination (which buffers and writes them asynchronously). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    this.pendingLength = 0;
    this.destination.writeBytes(Buffer.from(`${lines.join("\n")}\n`, "utf8"));
  }

  /** Writes out everything written so far and closes the audit file (stdout is flushed with the log). */
  async close(): Promise<void> {
    this.flush();
    await this.file?.close();
  }
}

/**
 * Opened at start-up, synchronously, so that a file that cannot be written stops the start with
 * a message naming the setting. A file or directory made for it is private to the service.
 */
function openAuditFile(file: string): number {
  try {
    makePrivateDirectory(dirname(file));
    return openPrivateFileForAppend(file);
  } catch (error) {
    throw new ConfigError(`secretgate.audit.file: cannot open ${file} for appending: ${(error as Error).message}`);
  }
}
