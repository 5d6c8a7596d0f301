import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresServer } from "../helpers/postgres-server.js";
import { type StartOptions, stopServer, TestServer } from "../helpers/server.js";
import { underLoad, WriteChecker } from "../helpers/write-checker.js";

// The service killed with SIGKILL while writes are under way, then started again on the same
// data: every write it acknowledged is there, whatever was in flight.
let postgres: PostgresServer;
beforeAll(async () => {
  postgres = await PostgresServer.start();
});
afterAll(async () => {
  await postgres?.stop();
});

async function killDuringWrites(options: StartOptions): Promise<void> {
  const checker = new WriteChecker();
  const names = Array.from({ length: 16 }, (_, index) => `KILLED_${index}`);
  const first = await TestServer.start(options);
  const stop = new AbortController();
  const load = underLoad(6, stop.signal, async (worker, iteration) => {
    const name = names[(worker * 3 + iteration) % names.length]!;
    if (iteration % 3 === 2) await checker.read(first.grpc, name);
    else await checker.write(first.grpc, name);
  });
  // Killed once a fair number of writes went through, with more in flight.
  while (checker.counts.acknowledged < 200) await new Promise((resolve) => setTimeout(resolve, 20));
  first.process.kill("SIGKILL");
  stop.abort();
  await load;
  await first.stop();
  expect(first.process.signalCode).toBe("SIGKILL");

  const second = await TestServer.start({ ...options, adminToken: first.token });
  try {
    expect(checker.problems).toEqual([]);
    expect(checker.counts.invalidReads).toBe(0);
    expect(await checker.lost(second.grpc)).toEqual([]);
    // Something was in flight: the calls cut off failed, none of them with a made-up answer.
    expect(
      Object.values(checker.counts.writeFailures).reduce((sum, n) => sum + n, 0) +
        Object.values(checker.counts.readFailures).reduce((sum, n) => sum + n, 0),
    ).toBeGreaterThan(0);
  } finally {
    await stopServer(second);
  }
}

describe("kill -9 of the service during writes", () => {
  it("the embedded store (SQLite): no acknowledged write is lost", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "secretgate-killed-"));
    try {
      await killDuringWrites({ dataDir, env: { SECRETGATE_LOG_LEVEL: "info" } });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("the embedded store in PostgreSQL: no acknowledged write is lost", async () => {
    const databaseUrl = await postgres.createDatabase("killed");
    await killDuringWrites({
      env: {
        DATABASE_URL: databaseUrl,
        SECRETGATE_MASTER_KEY: randomBytes(32).toString("base64"),
        SECRETGATE_LOG_LEVEL: "info",
      },
    });
  });
});
