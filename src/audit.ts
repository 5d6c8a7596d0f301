import type { DestinationStream } from "pino";
import { createLogDestination } from "./log.js";

/**
 * Audit records: one JSON object per line per RPC — identity, method, names, team, outcome per
 * item, from_cache, version, client address — including cache hits, never values. They go to
 * their own pino destination: appended to a file when configured, else to stdout through the
 * log's own stream (so lines never interleave). The record doubles as the access log line.
 *
 * Records are serialised with one JSON.stringify rather than through a pino logger: the record
 * is written on every request, and pino's per-key serialisation cost about 10 µs of a cached
 * Read's ~90 µs.
 */
export class AuditLog {
  private readonly destination: DestinationStream;

  constructor(options: { file: string | undefined; stdout: DestinationStream }) {
    this.destination = options.file ? createLogDestination(options.file) : options.stdout;
  }

  write(record: Record<string, unknown>): void {
    record.time = Date.now();
    record.audit = true;
    record.msg = "rpc";
    this.destination.write(`${JSON.stringify(record)}\n`);
  }
}
