import { copyFileSync, existsSync, mkdtempSync, renameSync, rmSync, statSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { auditedNameCounts, notExactlyOnce } from "../helpers/audit-files.js";
import { eventually } from "../helpers/eventually.js";
import { stopServer, TestServer } from "../helpers/server.js";
import { underLoad } from "../helpers/write-checker.js";

// logrotate's two ways, under load, each call naming names of its own so its record is found by
// them: `create` (rename the file, then SIGHUP: the service opens a new one) and `copytruncate`
// (copy the file, then truncate it in place: the service writes on at its new end).
let server: TestServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await stopServer(server);
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Calls from a few callers at once until stopped: the names of those answered OK, and when each started. */
function load(target: TestServer, prefix: string): { answered: Map<string, number>; stop: () => Promise<void> } {
  const answered = new Map<string, number>();
  const controller = new AbortController();
  const running = underLoad(4, controller.signal, async (worker, iteration) => {
    const name = `${prefix}_${worker}_${iteration}`;
    const started = performance.now();
    try {
      if (iteration % 4 === 0) await target.grpc.write({ name, value: `value of ${name}` });
      else await target.grpc.read({ names: [name] });
      answered.set(name, started);
    } catch {
      // Counted by its absence: only answered calls must have their record.
    }
  });
  return {
    answered,
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startWithAuditFile(): Promise<{ server: TestServer; file: string }> {
  dir = mkdtempSync(join(tmpdir(), "secretgate-rotation-"));
  const file = join(dir, "audit.log");
  server = await TestServer.start({
    config: { secretgate: { audit: { file } } },
    env: { SECRETGATE_LOG_LEVEL: "info" },
  });
  return { server, file };
}

describe("the audit file rotated under load", () => {
  it("rename + SIGHUP (logrotate's create): every call answered has its record in exactly one of the two files", async () => {
    const { server: target, file } = await startWithAuditFile();
    const calls = load(target, "ROTATE");
    await pause(500);
    renameSync(file, `${file}.1`);
    target.process.kill("SIGHUP");
    await eventually(async () => existsSync(file) && statSync(file).size > 0, "records reach a new file");
    await pause(500);
    await calls.stop();
    await target.stop();

    const counts = auditedNameCounts(`${file}.1`, file);
    expect(calls.answered.size).toBeGreaterThan(0);
    expect(notExactlyOnce(calls.answered.keys(), counts)).toEqual([]);
    const [rotated, current] = [auditedNameCounts(`${file}.1`), auditedNameCounts(file)];
    expect(rotated.size).toBeGreaterThan(0);
    expect(current.size).toBeGreaterThan(0);
  });

  it("copytruncate (+ SIGHUP): the file is written on from its start, no record is torn or written twice", async () => {
    const { server: target, file } = await startWithAuditFile();
    const calls = load(target, "TRUNCATE");
    await pause(500);
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    const truncated = performance.now();
    target.process.kill("SIGHUP");
    await pause(500);
    await calls.stop();
    await target.stop();

    // Throws on a torn line or on NUL bytes (a write past the end of the truncated file).
    const counts = auditedNameCounts(`${file}.1`, file);
    // Records written between the copy and the truncation are logrotate's to lose (its
    // documentation says so); none is ever written twice, and every call begun after it is kept.
    expect([...counts].filter(([, times]) => times > 1)).toEqual([]);
    const later = [...calls.answered].filter(([, started]) => started > truncated).map(([name]) => name);
    expect(later.length).toBeGreaterThan(0);
    expect(notExactlyOnce(later, auditedNameCounts(file))).toEqual([]);
  });
});
