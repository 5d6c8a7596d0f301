import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually.js";
import { PostgresServer } from "../helpers/postgres-server.js";
import { TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";

// A call's own team_settings name a location no team id describes: change notices must carry it.
const masterKey = randomBytes(32).toString("base64");
let postgres: PostgresServer;

beforeAll(async () => {
  postgres = await PostgresServer.start();
});
afterAll(async () => {
  await postgres?.stop();
});

describe("two Vault replicas and team settings sent with the call", () => {
  const namespace = `ns-${randomBytes(6).toString("hex")}`;
  let bed: VaultTestBed;
  let vaultA: TestServer;
  let vaultB: TestServer;

  beforeAll(async () => {
    bed = await startVaultTestBed({
      policies: ["secretgate", "team"],
      config: {
        namespaces: [namespace],
        policies: { team: [{ path: `${namespace}/secret/*`, capabilities: ["create", "read", "update", "delete"] }] },
      },
    });
    const config = {
      general_settings: {
        key_management_system: "hashicorp_vault",
        key_management_settings: { access_mode: "read_and_write" },
      },
    };
    const env = {
      ...bed.env("approle"),
      DATABASE_URL: await postgres.createDatabase("vault_replicas"),
      SECRETGATE_MASTER_KEY: masterKey,
    };
    vaultA = await TestServer.start({ config, env });
    vaultB = await TestServer.start({ config, env });
  });
  afterAll(async () => {
    for (const server of [vaultA, vaultB]) {
      if (!server) continue;
      await server.stop();
      rmSync(server.dataDir, { recursive: true, force: true });
    }
    await bed?.close();
  });

  it("a write on A at the location its settings name is read fresh on B, which had that location's old value cached", async () => {
    const teamSettings = { namespace };
    const readOnB = async () => (await vaultB.grpc.read({ names: ["INLINE_SHARED"], teamSettings })).results[0]!;
    await vaultA.grpc.write({ name: "INLINE_SHARED", value: "inline-v1", teamSettings });
    await vaultA.grpc.write({ name: "INLINE_SHARED", value: "default-v1" });
    // A notice that lands while B is reading keeps that answer out of B's cache, so B may need a second read.
    await eventually(async () => (await readOnB()).fromCache, "B caches inline-v1");
    expect(await readOnB()).toMatchObject({ value: "inline-v1", fromCache: true });

    await vaultA.grpc.write({ name: "INLINE_SHARED", value: "inline-v2", teamSettings });
    await eventually(async () => (await readOnB()).value === "inline-v2", "B reads inline-v2");
    await vaultA.grpc.delete({ name: "INLINE_SHARED", teamSettings });
    await eventually(async () => (await readOnB()).found === false, "B sees the delete");
    expect((await vaultB.grpc.read({ names: ["INLINE_SHARED"] })).results[0]).toMatchObject({ value: "default-v1" });
    // Notices name the location by digest: the namespace never reached PostgreSQL's notice traffic or B's logs.
    expect(vaultB.allOutput()).not.toContain(namespace);
  });
});
