import { pino, type DestinationStream, type Logger } from "pino";

const FLUSH_INTERVAL_MS = 200;

export type Flushable = DestinationStream & { flush(callback?: (error?: Error) => void): void };

/**
 * A buffered, asynchronous pino destination (a per-request line must not cost a system call on
 * the hot path). It is flushed at least every 200 ms, so a quiet server does not sit on lines,
 * and by pino when the process exits.
 */
export function createLogDestination(file?: string): Flushable {
  const destination = pino.destination({ sync: false, minLength: 4096, ...(file ? { dest: file, append: true, mkdir: true } : {}) });
  setInterval(() => destination.flush(), FLUSH_INTERVAL_MS).unref();
  return destination as Flushable;
}

/**
 * JSON logs on stdout. Nothing logs values, so there is no redaction pass (it cost ~3 % of a
 * cached Read): the log-scan tests hold that line instead.
 */
export function createLogger(level: string, destination: DestinationStream = createLogDestination()): Logger {
  return pino({ level, base: { service: "secretgate" } }, destination);
}
