import { dirname } from "node:path";
import { serializeRecord, type AuditList } from "./audit-record.js";
import { AuditTail } from "./audit-tail.js";
import { ConfigError } from "./config/config-error.js";
import { createLogDestination, type LogDestination } from "./log.js";
import { makePrivateDirectory, openPrivateFileForAppend } from "./storage/private-files.js";

/**
 * Audit records: one JSON object per line per RPC — identity, method, names, team, outcome per
 * item, from_cache, version, client address — including cache hits, never values. They go to
 * their own destination: appended to a file when configured, else to stdout through the log's
 * own stream (so lines never interleave). The record doubles as the access log line.
 *
 * A record is at most 4 KiB, whatever the request held (src/audit-record.ts). Records are
 * serialised with JSON.stringify rather than through a pino logger (pino's per-key
 * serialisation cost about 10 µs of a cached Read), and the lines of one event-loop turn reach
 * the destination as one write, encoded once (see createLogDestination).
 */
export class AuditLog {
  /** The live feed behind TailAudit. */
  readonly tail = new AuditTail();
  private readonly destination: LogDestination;
  /** The audit file's own destination, which this log flushes on close. */
  private readonly file: LogDestination | undefined;
  private pending: string[] = [];
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
    if (this.pending.length === 0) setImmediate(this.flushSoon);
    const line = serializeRecord(record, list);
    this.pending.push(line);
    this.tail.publish(line);
  }

  /** Hands the records written so far to the destination (which buffers and writes them asynchronously). */
  flush(): void {
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
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
