import { type DestinationStream, type Logger, pino } from "pino";
import { AppendWriter, type WriterHealth } from "./append-writer.js";

const FLUSH_INTERVAL_MS = 200;
/** Log lines gathered before they are handed to the writer (a per-request line must not cost a system call). */
const LINE_BUFFER_BYTES = 4096;
/**
 * What a destination holds unwritten at most (a full disk, a stuck pipe); past it, lines are dropped and counted by
 * the caller.
 */
const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** How long closing waits for a destination that fails to take what it holds. */
const CLOSE_GRACE_MS = 5_000;

export type Flushable = DestinationStream & { flush(callback?: (error?: Error) => void): void };

/** Where log lines and audit records go: pino's lines as strings, audit batches already encoded. */
export interface LogDestination extends Flushable {
  /** Queues a batch of whole lines; false when the destination already holds too much unwritten (nothing queued). */
  writeBytes(bytes: Buffer): boolean;
  /** Calls `done` once everything queued so far is written, or with the error as soon as writing it fails. */
  whenWritten(done: (error?: Error) => void): void;
  /** Whether writes succeed, told to `listener` on every change. */
  readonly health: WriterHealth;
  onHealth(listener: (health: WriterHealth) => void): void;
  /** Opens the file again by its path (after logrotate renamed it); nothing for stdout. */
  reopen(): void;
  /**
   * Writes what is queued (waiting at most 5 s for a failing destination), then closes the file descriptor (never
   * stdout's or stderr's). Resolves with the bytes left unwritten.
   */
  close(): Promise<number>;
}

/**
 * A buffered, asynchronous destination (a per-request line must not cost a system call on the
 * hot path): log lines are gathered up to 4 KiB and handed over at least every 200 ms, so a quiet
 * server does not sit on them; audit batches are handed over as they come. Bytes are encoded once.
 * What is queued is written synchronously when the process exits.
 *
 * With `path`, the destination is that file (opened by `open`), reopened on `reopen()` and while
 * writes fail (see AppendWriter).
 */
export function createLogDestination(
  fd: number = process.stdout.fd,
  file?: { path: string; open: (path: string) => number; sync?: boolean },
): LogDestination {
  const listeners: Array<(health: WriterHealth) => void> = [];
  const writer = new AppendWriter(fd, {
    ...(file ? { path: file.path, open: file.open, sync: file.sync ?? false } : {}),
    maxQueuedBytes: MAX_QUEUED_BYTES,
    onHealth: (health) => {
      for (const listener of listeners) listener(health);
    },
  });
  let lines: Buffer[] = [];
  let lineBytes = 0;
  const handOver = () => {
    if (lines.length === 0) return;
    writer.append(lines.length === 1 ? lines[0]! : Buffer.concat(lines, lineBytes));
    lines = [];
    lineBytes = 0;
  };
  const flusher = setInterval(handOver, FLUSH_INTERVAL_MS).unref();
  const exit = () => {
    handOver();
    writer.flushSync();
  };
  process.once("exit", exit);
  return {
    write: (line: string) => {
      const bytes = Buffer.from(line, "utf8");
      lines.push(bytes);
      lineBytes += bytes.length;
      if (lineBytes >= LINE_BUFFER_BYTES) handOver();
      return true;
    },
    writeBytes: (chunk: Buffer) => {
      // Lines logged before the batch are written before it.
      handOver();
      return writer.append(chunk);
    },
    whenWritten: (done: (error?: Error) => void) => writer.whenWritten(done),
    get health() {
      return writer.health;
    },
    onHealth: (listener: (health: WriterHealth) => void) => listeners.push(listener),
    reopen: () => writer.reopen(),
    flush: (callback?: (error?: Error) => void) => {
      handOver();
      writer.whenWritten(callback ?? (() => undefined));
    },
    flushSync: () => {
      handOver();
      writer.flushSync();
    },
    close: async () => {
      clearInterval(flusher);
      process.off("exit", exit);
      handOver();
      return writer.close(CLOSE_GRACE_MS, file !== undefined);
    },
  } as LogDestination;
}

/**
 * JSON logs on stdout. Nothing logs values, so there is no redaction pass (it cost ~3 % of a
 * cached Read): the log-scan tests hold that line instead.
 */
export function createLogger(level: string, destination: DestinationStream = createLogDestination()): Logger {
  return pino({ level, base: { service: "secretgate" } }, destination);
}
