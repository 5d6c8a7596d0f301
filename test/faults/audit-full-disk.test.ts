import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { auditedNameCounts, notExactlyOnce } from "../helpers/audit-files.js";
import { eventually } from "../helpers/eventually.js";
import { metricValue, readyz } from "../helpers/probes.js";
import { stopServer, TestServer } from "../helpers/server.js";
import { underLoad } from "../helpers/write-checker.js";

// /dev/full refuses every write with ENOSPC, as a full disk does. The audit file is a symbolic
// link to it; "restored" points the link at a real file, as an operator freeing space (or moving
// the audit log to another disk) would make the path writable again. Every call names names of
// its own, so its record is found by them.
let server: TestServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await stopServer(server);
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Outcomes {
  /** Names of the calls answered OK. */
  answered: Set<string>;
  /** Failed calls by status code. */
  failed: Map<number, number>;
}

/** Reads and writes of names never used before, from a few callers at once, for `ms`. */
async function callsFor(target: TestServer, ms: number, prefix: string): Promise<Outcomes> {
  const outcomes: Outcomes = { answered: new Set(), failed: new Map() };
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), ms);
  await underLoad(4, stop.signal, async (worker, iteration) => {
    const name = `${prefix}_${worker}_${iteration}`;
    try {
      if (iteration % 4 === 0) await target.grpc.write({ name, value: `value of ${name}` });
      else await target.grpc.read({ names: [name] });
      outcomes.answered.add(name);
    } catch (error) {
      const { code } = ConnectError.from(error);
      outcomes.failed.set(code, (outcomes.failed.get(code) ?? 0) + 1);
    }
  });
  clearTimeout(timer);
  return outcomes;
}

async function startOnFullDisk(
  onFailure?: "fail_closed" | "fail_open",
): Promise<{ server: TestServer; file: string; restore: () => string }> {
  dir = mkdtempSync(join(tmpdir(), "secretgate-full-disk-"));
  const file = join(dir, "audit.log");
  symlinkSync("/dev/full", file);
  server = await TestServer.start({
    config: { secretgate: { audit: { file, ...(onFailure ? { on_failure: onFailure } : {}) } } },
    env: { SECRETGATE_LOG_LEVEL: "info" },
  });
  const restore = () => {
    const real = join(dir!, "audit-restored.log");
    writeFileSync(real, "");
    rmSync(file);
    symlinkSync(real, file);
    return real;
  };
  return { server, file, restore };
}

const errorLines = (target: TestServer, text: string) =>
  target.logLines.filter((line) => line.includes('"level":50') && line.includes(text));

describe("the audit file on a device that refuses writes (/dev/full), then writable again", () => {
  it("fail_closed (the default): the process keeps running and refuses every call UNAVAILABLE, counted; it recovers by itself, and every call answered OK has its one record", async () => {
    const started = await startOnFullDisk();
    const during = await callsFor(started.server, 1_000, "CLOSED_DURING");
    expect(started.server.process.exitCode).toBeNull();
    expect(during.answered.size).toBe(0);
    expect([...during.failed.keys()]).toEqual([Code.Unavailable]);
    expect((await fetch(`http://${started.server.httpAddress}/healthz`)).status).toBe(200);
    // It can answer nothing: out of the load balancer until it can audit again.
    const probe = await readyz(started.server);
    expect(probe.status).toBe(503);
    expect(probe.body.audit).toMatchObject({ state: "failing", onFailure: "fail_closed", error: "ENOSPC" });
    expect(await metricValue(started.server, "secretgate_audit_refused_total")).toBeGreaterThan(0);
    expect(await metricValue(started.server, "secretgate_audit_writing")).toBe(0);
    expect(errorLines(started.server, "audit records cannot be written")).toHaveLength(1);

    const real = started.restore();
    await eventually(async () => (await readyz(started.server)).status === 200, "the service audits again by itself");
    const after = await callsFor(started.server, 500, "CLOSED_AFTER");
    expect(after.failed.size).toBe(0);
    expect(after.answered.size).toBeGreaterThan(0);
    expect(await metricValue(started.server, "secretgate_audit_writing")).toBe(1);
    await started.server.stop();
    expect(notExactlyOnce(after.answered, auditedNameCounts(real))).toEqual([]);
  });

  it("fail_open: calls are answered, counted and logged at error once; once writable, the records of the calls answered meanwhile are written, each once", async () => {
    const started = await startOnFullDisk("fail_open");
    const during = await callsFor(started.server, 1_000, "OPEN_DURING");
    expect(started.server.process.exitCode).toBeNull();
    expect(during.failed.size).toBe(0);
    expect(during.answered.size).toBeGreaterThan(0);
    const probe = await readyz(started.server);
    expect(probe.status).toBe(200);
    expect(probe.body.degraded).toContain("audit");
    expect(probe.body.audit).toMatchObject({ state: "failing", onFailure: "fail_open", error: "ENOSPC" });
    expect(await metricValue(started.server, "secretgate_audit_answered_unwritten_total")).toBeGreaterThan(0);
    expect(errorLines(started.server, "audit records cannot be written")).toHaveLength(1);

    const real = started.restore();
    await eventually(
      async () => (await readyz(started.server)).body.audit.state === "writing",
      "the service audits again by itself",
    );
    const after = await callsFor(started.server, 500, "OPEN_AFTER");
    expect(after.failed.size).toBe(0);
    await started.server.stop();
    const counts = auditedNameCounts(real);
    expect(notExactlyOnce(during.answered, counts)).toEqual([]);
    expect(notExactlyOnce(after.answered, counts)).toEqual([]);
  });
});
