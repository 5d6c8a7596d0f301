import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VaultEmulator } from "../emulators/hashicorp-vault/index.js";
import { eventually } from "../helpers/eventually.js";
import { PostgresServer } from "../helpers/postgres-server.js";
import { stopServer, TestServer } from "../helpers/server.js";

/** The value of one sample in Prometheus text format, e.g. sample(text, "x_total", { backend: "local" }). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const match = /^[^{\s]+(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) continue;
    const present = new Map([...(match[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1]!, pair[2]!]));
    if (Object.entries(labels).every(([key, value]) => present.get(key) === value)) return Number(match[2]);
  }
  return undefined;
}

describe("/metrics after a scripted workload", () => {
  let postgres: PostgresServer;
  let server: TestServer;
  const scrape = async () => {
    const response = await fetch(`http://${server.httpAddress}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    return response.text();
  };

  beforeAll(async () => {
    postgres = await PostgresServer.start();
    server = await TestServer.start({
      // A short TTL so an entry can expire while the database is down, and be served stale.
      config: { secretgate: { cache: { ttl_seconds: 1, max_staleness_seconds: 600 } } },
      env: { DATABASE_URL: postgres.url, SECRETGATE_MASTER_KEY: randomBytes(32).toString("base64") },
    });
  });
  afterAll(async () => {
    await stopServer(server);
    await postgres?.stop();
  });

  it("counts requests, cache hits and misses, coalesced waits, back-end calls and errors, stale serves", async () => {
    await server.grpc.write({ name: "METERED", value: "m1" });
    await server.grpc.read({ names: ["METERED"] }); // miss
    await server.grpc.read({ names: ["METERED"] }); // hit
    await server.grpc.read({ names: ["METERED"] }); // hit
    // Three copies of one uncached name in one Read: one back-end read, two waits on it.
    await server.grpc.read({ names: ["COALESCED", "COALESCED", "COALESCED"] });
    await expect(server.grpc.delete({ name: "NOT_THERE" })).rejects.toThrow(/does not exist/);

    let text = await scrape();
    expect(sample(text, "secretgate_requests_total", { method: "Read", code: "OK" })).toBe(4);
    expect(sample(text, "secretgate_requests_total", { method: "Write", code: "OK" })).toBe(1);
    expect(sample(text, "secretgate_requests_total", { method: "Delete", code: "NOT_FOUND" })).toBe(1);
    expect(sample(text, "secretgate_request_duration_seconds_count", { method: "Read" })).toBe(4);
    expect(sample(text, "secretgate_request_duration_seconds_bucket", { method: "Read", le: "+Inf" })).toBe(4);
    expect(sample(text, "secretgate_cache_hits_total", { backend: "local" })).toBe(2);
    expect(sample(text, "secretgate_cache_misses_total", { backend: "local" })).toBe(4);
    expect(sample(text, "secretgate_cache_coalesced_waits_total", { backend: "local" })).toBe(2);
    // Start-up probe aside, the driver saw: Write, Read METERED, Read COALESCED, Delete.
    expect(sample(text, "secretgate_backend_calls_total", { backend: "local" })).toBe(4);
    expect(sample(text, "secretgate_backend_call_duration_seconds_count", { backend: "local" })).toBe(4);
    expect(sample(text, "secretgate_backend_errors_total", { backend: "local" })).toBe(0);
    expect(sample(text, "secretgate_cache_stale_served_total", { backend: "local" })).toBe(0);
    expect(sample(text, "secretgate_backend_breaker_state", { backend: "local", state: "closed" })).toBe(1);
    expect(sample(text, "secretgate_backend_breaker_state", { backend: "local", state: "open" })).toBe(0);
    // One audit record per RPC: the Write, four Reads and the Delete.
    expect(sample(text, "secretgate_audit_records_total")).toBe(6);
    expect(sample(text, "secretgate_process_resident_memory_bytes")).toBeGreaterThan(0);

    // The database goes away; once the entry expires, the read is served stale and the failures are counted.
    await postgres.stop();
    await eventually(async () => {
      const result = (await server.grpc.read({ names: ["METERED"] })).results[0];
      return result?.stale === true && result.value === "m1";
    }, "a stale value is served");
    text = await scrape();
    expect(sample(text, "secretgate_cache_stale_served_total", { backend: "local" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "secretgate_backend_errors_total", { backend: "local" })).toBeGreaterThanOrEqual(1);
    // Still ready: it answers from its cache (docs/operations.md, "Probes"); the strict variant is not.
    const ready = await fetch(`http://${server.httpAddress}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: "ready",
      database: "unreachable",
      degraded: expect.arrayContaining(["database"]),
    });
    expect((await fetch(`http://${server.httpAddress}/readyz?strict`)).status).toBe(503);
  });
});

describe("/readyz and the start-up probe", () => {
  let vault: VaultEmulator;
  let server: TestServer;
  afterAll(async () => {
    await stopServer(server);
    await vault?.close();
  });

  it("is not ready while the back end is unreachable at start, and becomes ready once it answers", async () => {
    vault = await VaultEmulator.start();
    // A sealed Vault answers 503 to everything: unreachable as far as serving secrets goes.
    vault.sealed = true;
    server = await TestServer.start({
      config: { general_settings: { key_management_system: "hashicorp_vault" } },
      env: { HCP_VAULT_ADDR: vault.endpoint, HCP_VAULT_TOKEN: vault.rootToken },
    });
    expect((await fetch(`http://${server.httpAddress}/healthz`)).status).toBe(200);
    const notReady = await fetch(`http://${server.httpAddress}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({
      status: "not ready",
      backendReachable: false,
      backend: "hashicorp_vault",
    });

    vault.sealed = false;
    await eventually(
      async () => (await fetch(`http://${server.httpAddress}/readyz`)).status === 200,
      "the server is ready",
    );
  });
});
