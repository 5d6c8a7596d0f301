import { pino, type DestinationStream, type Logger } from "pino";

const FLUSH_INTERVAL_MS = 200;

export type Flushable = DestinationStream & { flush(callback?: (error?: Error) => void): void };

/** Where log lines and audit records go: pino's lines as strings, audit batches already encoded. */
export interface LogDestination extends Flushable {
  writeBytes(bytes: Buffer): void;
  /** Writes what is buffered, then closes the file descriptor (never stdout's or stderr's). */
  close(): Promise<void>;
}

/**
 * A buffered, asynchronous destination (a per-request line must not cost a system call on the
 * hot path), flushed at least every 200 ms so a quiet server does not sit on lines, and by pino
 * when the process exits.
 *
 * It holds bytes (sonic-boom's buffer mode): in its text mode, sonic-boom measured the UTF-8
 * length of its pending text on every write and re-encoded it when writing, which cost more
 * than a third of a 100-name Read's time once audit records carry every name. Lines are
 * encoded once here.
 */
export function createLogDestination(fd: number = process.stdout.fd): LogDestination {
  // An open descriptor, never a path: sonic-boom opening a file itself does so asynchronously,
  // and a flush or close before that open completed crashed inside it.
  const bytes = pino.destination({ sync: false, minLength: 4096, contentMode: "buffer", dest: fd });
  const flusher = setInterval(() => bytes.flush(), FLUSH_INTERVAL_MS).unref();
  return {
    write: (line: string) => bytes.write(Buffer.from(line, "utf8") as never),
    writeBytes: (chunk: Buffer) => bytes.write(chunk as never),
    flush: (callback?: (error?: Error) => void) => bytes.flush(callback),
    flushSync: () => bytes.flushSync(),
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(flusher);
        bytes.once("close", () => resolve());
        bytes.end();
      }),
  } as LogDestination;
}

/**
 * JSON logs on stdout. Nothing logs values, so there is no redaction pass (it cost ~3 % of a
 * cached Read): the log-scan tests hold that line instead.
 */
export function createLogger(level: string, destination: DestinationStream = createLogDestination()): Logger {
  return pino({ level, base: { service: "secretgate" } }, destination);
}
