import { pino, type Logger } from "pino";

/**
 * JSON logs on stdout. The write is asynchronous (a per-request line must not block the hot
 * path); `flushLogs` runs before the process exits. Paths that could carry values are redacted
 * as a second line of defence: the code never passes values to the logger in the first place.
 */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { service: "secretgate" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ["value", "*.value", "binaryValue", "*.binaryValue", "token", "*.token", "settings"], censor: "[redacted]" },
    },
    pino.destination({ sync: false, minLength: 0 }),
  );
}

export function flushLogs(logger: Logger): void {
  logger.flush();
}
