import { pino, type Logger } from "pino";

/**
 * JSON logs on stdout. Writes are asynchronous and buffered (a per-request line must not cost a
 * system call on the hot path); pino flushes the buffer when the process exits. Nothing logs
 * values, so there is no redaction pass (it cost ~3 % of a cached Read): the log-scan tests hold
 * that line instead.
 */
export function createLogger(level: string): Logger {
  const logger = pino(
    { level, base: { service: "secretgate" }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ sync: false, minLength: 4096 }),
  );
  // A quiet server must not sit on buffered lines: flush at least this often.
  setInterval(() => logger.flush(), FLUSH_INTERVAL_MS).unref();
  return logger;
}

const FLUSH_INTERVAL_MS = 200;
