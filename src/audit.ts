import { pino, type DestinationStream, type Logger } from "pino";
import { createLogDestination } from "./log.js";

/**
 * Audit records: one JSON object per line per RPC — identity, method, names, team, outcome per
 * item, from_cache, version, client address — including cache hits, never values. They go to
 * their own pino logger: appended to a file when configured, else to stdout through the log's
 * own stream (so lines never interleave). The record doubles as the access log line.
 */
export function createAuditLog(options: { file: string | undefined; stdout: DestinationStream }): Logger {
  const destination = options.file ? createLogDestination(options.file) : options.stdout;
  return pino({ base: { service: "secretgate", audit: true } }, destination);
}
