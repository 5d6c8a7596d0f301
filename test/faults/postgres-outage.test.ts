import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callFailure } from "../helpers/call-failure.js";
import { eventually } from "../helpers/eventually.js";
import { PostgresServer } from "../helpers/postgres-server.js";
import { grpcHealth, readyz } from "../helpers/probes.js";
import { stopServer, TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";
import { underLoad, WriteChecker } from "../helpers/write-checker.js";

// Two replicas on one PostgreSQL, each with the embedded store (its rows in PostgreSQL, the
// default back end) and Vault (which does not need the database: only its change notices do).
const masterKey = randomBytes(32).toString("base64");
/** How long a cached value stays fresh while a replica cannot hear change notices. */
const OUTAGE_TTL_SECONDS = 1;
let postgres: PostgresServer;
let bed: VaultTestBed;
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  [postgres, bed] = await Promise.all([PostgresServer.start(), startVaultTestBed()]);
  const databaseUrl = await postgres.createDatabase("outage");
  const vaultEnv = bed.env("token");
  const config = {
    secretgate: {
      backends: {
        local: {},
        vault: {
          key_management_system: "hashicorp_vault",
          key_management_settings: { access_mode: "read_and_write" },
          env: { HCP_VAULT_ADDR: vaultEnv.HCP_VAULT_ADDR, HCP_VAULT_TOKEN: "os.environ/VAULT_TOKEN" },
        },
      },
      default_backend: "local",
      database_outage_ttl_seconds: OUTAGE_TTL_SECONDS,
    },
  };
  const env = {
    DATABASE_URL: databaseUrl,
    SECRETGATE_MASTER_KEY: masterKey,
    VAULT_TOKEN: vaultEnv.HCP_VAULT_TOKEN!,
    SECRETGATE_LOG_LEVEL: "info",
  };
  [a, b] = await Promise.all([TestServer.start({ config, env }), TestServer.start({ config, env })]);
});

afterAll(async () => {
  await Promise.all([stopServer(a), stopServer(b)]);
  await Promise.all([postgres?.stop(), bed?.close()]);
});

describe("PostgreSQL stopped and restarted under two replicas", () => {
  it("keeps both replicas ready (saying the database is degraded), serves reads, refuses writes UNAVAILABLE, loses nothing acknowledged, and is fresh again after", async () => {
    const checker = new WriteChecker();
    const names = Array.from({ length: 16 }, (_, index) => `PG_OUTAGE_${index}`);
    for (const name of names) await checker.write(a.grpc, name);
    for (const name of names) {
      await checker.read(a.grpc, name);
      await checker.read(b.grpc, name, false);
    }
    await a.grpc.write({ name: "vault://OUTAGE_FRESHNESS", value: "before" });
    await eventually(
      async () => (await b.grpc.read({ names: ["vault://OUTAGE_FRESHNESS"] })).results[0]!.fromCache,
      "B caches Vault's value",
    );

    const stop = new AbortController();
    const load = underLoad(4, stop.signal, async (worker, iteration) => {
      const name = names[(worker * 5 + iteration) % names.length]!;
      if (iteration % 4 === 0) await checker.write(a.grpc, name);
      else if (iteration % 2 === 0) await checker.read(a.grpc, name);
      else await checker.read(b.grpc, name, false);
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const before = { acknowledged: checker.counts.acknowledged, validReads: checker.counts.validReads };
      expect(before.acknowledged).toBeGreaterThan(names.length);

      await postgres.halt();
      await eventually(
        async () =>
          (await readyz(a)).body.database === "unreachable" && (await readyz(b)).body.database === "unreachable",
        "both replicas notice",
      );
      const outageStarted = {
        acknowledged: checker.counts.acknowledged,
        validReads: checker.counts.validReads,
        unavailable: checker.counts.writeFailures.UNAVAILABLE ?? 0,
      };

      // Readiness: still in service, saying what is degraded; the strict variant keeps the old meaning.
      for (const replica of [a, b]) {
        const { status, body } = await readyz(replica);
        expect(status).toBe(200);
        expect(body).toMatchObject({ status: "ready", database: "unreachable" });
        expect(body.degraded).toContain("database");
        expect((await readyz(replica, true)).status).toBe(503);
        expect(await grpcHealth(replica)).toBe("SERVING");
        expect(await grpcHealth(replica, "secretgate.v1.SecretService")).toBe("SERVING");
        // The gRPC health service follows readiness within a second.
        await eventually(
          async () => (await grpcHealth(replica, "secretgate.strict")) === "NOT_SERVING",
          "strict gRPC health says NOT_SERVING",
        );
      }

      // A value changed behind the replicas' backs (no notice can reach them now) is read within
      // the outage TTL, not the cache's five minutes.
      bed.emulator.kv.write("", "secret", "OUTAGE_FRESHNESS", { data: { key: "after" } });
      await eventually(
        async () => (await b.grpc.read({ names: ["vault://OUTAGE_FRESHNESS"] })).results[0]!.value === "after",
        "B reads the changed value",
      );

      // Held for a while under load: every probe answered 200 meanwhile.
      const statuses = new Set<number>();
      for (let probe = 0; probe < 10; probe++) {
        for (const replica of [a, b]) statuses.add((await readyz(replica)).status);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect([...statuses]).toEqual([200]);
      expect(checker.counts.acknowledged).toBe(outageStarted.acknowledged);
      expect(checker.counts.writeFailures.UNAVAILABLE ?? 0).toBeGreaterThan(outageStarted.unavailable);
      expect(checker.counts.validReads).toBeGreaterThan(outageStarted.validReads);
      expect(checker.counts.staleReads).toBeGreaterThan(0);

      await postgres.restart();
      await eventually(
        async () => (await readyz(a)).body.database === "connected" && (await readyz(b)).body.database === "connected",
        "both replicas reconnect",
        20_000,
      );
      await eventually(
        async () => checker.counts.acknowledged > outageStarted.acknowledged + 10,
        "writes are acknowledged again",
        20_000,
      );
      for (const replica of [a, b]) expect((await readyz(replica, true)).status).toBe(200);
    } finally {
      stop.abort();
      await load;
    }

    // Freshness restored: a write on A is read on B.
    expect(await checker.write(a.grpc, names[0]!)).toBe(true);
    const written = (await a.grpc.read({ names: [names[0]!], bypassCache: true })).results[0]!.value;
    await eventually(
      async () => (await b.grpc.read({ names: [names[0]!] })).results[0]!.value === written,
      "B reads A's write",
    );

    expect(checker.problems).toEqual([]);
    expect(checker.counts.invalidReads).toBe(0);
    // A fault may make a write fail, never with INTERNAL: refusals are UNAVAILABLE (or a deadline).
    expect(
      Object.keys(checker.counts.writeFailures).filter(
        (code) => code !== "UNAVAILABLE" && code !== "DEADLINE_EXCEEDED",
      ),
    ).toEqual([]);
    expect(
      Object.keys(checker.counts.readFailures).filter((code) => code !== "UNAVAILABLE" && code !== "DEADLINE_EXCEEDED"),
    ).toEqual([]);
    expect(await checker.lost(a.grpc)).toEqual([]);
    expect(await checker.lost(b.grpc)).toEqual([]);
  });

  it("notices a database that stops answering without closing its connections (a partition) by its heartbeat, and applies the same rules", async () => {
    await a.grpc.write({ name: "vault://FROZEN_FRESHNESS", value: "before" });
    await eventually(
      async () => (await b.grpc.read({ names: ["vault://FROZEN_FRESHNESS"] })).results[0]!.fromCache,
      "B caches Vault's value",
    );
    postgres.freeze();
    try {
      bed.emulator.kv.write("", "secret", "FROZEN_FRESHNESS", { data: { key: "after" } });
      await eventually(
        async () =>
          (await readyz(a)).body.database === "unreachable" && (await readyz(b)).body.database === "unreachable",
        "both replicas notice",
        20_000,
      );
      expect((await readyz(b)).status).toBe(200);
      await eventually(
        async () => (await b.grpc.read({ names: ["vault://FROZEN_FRESHNESS"] })).results[0]!.value === "after",
        "B reads the changed value",
      );
      expect(await callFailure(a.grpc.write({ name: "vault://FROZEN_FRESHNESS", value: "refused" }))).toMatchObject({
        code: Code.Unavailable,
      });
      expect(bed.emulator.kv.read("", "secret", "FROZEN_FRESHNESS", undefined)).toMatchObject({
        data: { data: { key: "after" } },
      });
    } finally {
      postgres.thaw();
    }
    await eventually(
      async () => (await readyz(a)).body.database === "connected" && (await readyz(b)).body.database === "connected",
      "both replicas reconnect",
      30_000,
    );
    await a.grpc.write({ name: "vault://FROZEN_FRESHNESS", value: "after the partition" });
    await eventually(
      async () =>
        (await b.grpc.read({ names: ["vault://FROZEN_FRESHNESS"] })).results[0]!.value === "after the partition",
      "B reads A's write",
    );
  });
});
