import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually.js";
import { grpcHealth, readyz } from "../helpers/probes.js";
import { stopServer, TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";
import { underLoad, WriteChecker } from "../helpers/write-checker.js";

// Vault going away (every connection dropped) and coming back, under reads and writes. Values
// are fresh for 1 s and the breaker stays open for 1 s, so the fault shows within the test.
let bed: VaultTestBed;
let server: TestServer;
const BACKEND = "hashicorp_vault";

beforeAll(async () => {
  bed = await startVaultTestBed();
  server = await TestServer.start({
    config: {
      general_settings: {
        key_management_system: "hashicorp_vault",
        key_management_settings: { access_mode: "read_and_write" },
      },
      secretgate: { cache: { ttl_seconds: 1 }, resilience: { breaker_open_seconds: 1 } },
    },
    env: { ...bed.env("token"), SECRETGATE_LOG_LEVEL: "info" },
  });
});
afterAll(async () => {
  await stopServer(server);
  await bed?.close();
});

describe("a back end down, then back", () => {
  it("serves cached values marked stale while it is down, stays ready saying so, refuses writes UNAVAILABLE, and closes its breaker again once it is back", async () => {
    const checker = new WriteChecker();
    const names = Array.from({ length: 8 }, (_, index) => `BACKEND_OUTAGE_${index}`);
    for (const name of names) await checker.write(server.grpc, name);
    for (const name of names) await checker.read(server.grpc, name);

    const stop = new AbortController();
    const load = underLoad(4, stop.signal, async (worker, iteration) => {
      const name = names[(worker * 3 + iteration) % names.length]!;
      if (iteration % 4 === 0) await checker.write(server.grpc, name);
      else await checker.read(server.grpc, name);
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      bed.emulator.faults.set([{ kind: "drop" }]);
      const down = { acknowledged: checker.counts.acknowledged, stale: checker.counts.staleReads };
      await eventually(
        async () => (await readyz(server)).body.backends[BACKEND].breaker === "open",
        "the breaker opens",
        20_000,
      );
      await eventually(
        async () => checker.counts.staleReads > down.stale + 20,
        "stale values are served, marked",
        20_000,
      );
      const { status, body } = await readyz(server);
      expect(status).toBe(200);
      expect(body.degraded).toContain(`breaker:${BACKEND}`);
      expect(await grpcHealth(server)).toBe("SERVING");
      expect(await grpcHealth(server, `secretgate.backend.${BACKEND}`)).toBe("NOT_SERVING");
      // Writes the back end never took were refused, not acknowledged.
      expect(checker.counts.writeFailures.UNAVAILABLE ?? 0).toBeGreaterThan(0);
      const refusedSoFar = checker.counts.acknowledged;

      bed.emulator.faults.clear();
      await eventually(
        async () => (await readyz(server)).body.backends[BACKEND].breaker === "closed",
        "the breaker closes again",
        20_000,
      );
      await eventually(
        async () => checker.counts.acknowledged > refusedSoFar + 10,
        "writes are acknowledged again",
        20_000,
      );
      const fresh = (await server.grpc.read({ names: [names[0]!] })).results[0]!;
      expect(fresh.stale).toBe(false);
      expect(await grpcHealth(server, `secretgate.backend.${BACKEND}`)).toBe("SERVING");
      expect((await readyz(server)).body.degraded).toEqual([]);
    } finally {
      bed.emulator.faults.clear();
      stop.abort();
      await load;
    }
    expect(checker.problems).toEqual([]);
    expect(checker.counts.invalidReads).toBe(0);
    expect(
      Object.keys(checker.counts.writeFailures).filter(
        (code) => code !== "UNAVAILABLE" && code !== "DEADLINE_EXCEEDED",
      ),
    ).toEqual([]);
    expect(
      Object.keys(checker.counts.readFailures).filter((code) => code !== "UNAVAILABLE" && code !== "DEADLINE_EXCEEDED"),
    ).toEqual([]);
    expect(await checker.lost(server.grpc)).toEqual([]);
  });
});
