import type { LogDestination } from "../../src/log.js";

/**
 * A log destination in memory for in-process tests: every batch of bytes goes to `onBytes` (or
 * nowhere), every write is written at once, and writes never fail.
 */
export function memoryLogDestination(onBytes: (bytes: Buffer) => void = () => undefined): LogDestination {
  return {
    write: () => true,
    writeBytes: (bytes: Buffer) => {
      onBytes(bytes);
      return true;
    },
    whenWritten: (done: (error?: Error) => void) => done(),
    health: { writing: true },
    onHealth: () => undefined,
    reopen: () => undefined,
    flush: (callback?: (error?: Error) => void) => callback?.(),
    flushSync: () => undefined,
    close: async () => 0,
  } as unknown as LogDestination;
}
