import { parseArgs } from "node:util";

/**
 * `npm run emulator -- NAME [--port N] [--host 127.0.0.1]` starts one emulator as a sandbox and
 * prints one JSON line with its endpoint when ready. Each emulator lives in
 * test/emulators/NAME/index.ts and exports `startEmulator`.
 */
export interface EmulatorHandle {
  /** What clients point at, e.g. http://127.0.0.1:4566 or 127.0.0.1:9090. */
  endpoint: string;
  /** Anything else a user needs (admin URL, test credentials, CA file, …). */
  details?: Record<string, unknown>;
  close(): Promise<void>;
}

export type StartEmulator = (options: { host: string; port: number }) => Promise<EmulatorHandle>;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { port: { type: "string", default: "0" }, host: { type: "string", default: "127.0.0.1" } },
    allowPositionals: true,
  });
  const name = positionals[0];
  if (!name || !/^[a-z0-9-]+$/.test(name)) {
    console.error("usage: npm run emulator -- NAME [--port N] [--host 127.0.0.1]");
    process.exit(2);
  }
  let module: { startEmulator?: StartEmulator };
  try {
    module = (await import(`./${name}/index.js`)) as { startEmulator?: StartEmulator };
  } catch {
    console.error(`no emulator named ${name}`);
    process.exit(2);
  }
  if (!module.startEmulator) throw new Error(`emulator ${name} does not export startEmulator`);
  const handle = await module.startEmulator({ host: values.host!, port: Number(values.port) });
  const stop = () => void handle.close().then(() => process.exit(0));
  // Handlers first: a caller may signal as soon as it reads the line, and an unhandled
  // SIGTERM would end the process without closing the emulator (leaving its temp files).
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  console.log(JSON.stringify({ emulator: name, endpoint: handle.endpoint, ...(handle.details ?? {}) }));
}

void main();
