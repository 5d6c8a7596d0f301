import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHANGE_CHANNEL } from "../../src/storage/postgres/change-notices.js";
import { eventually } from "../helpers/eventually.js";
import { PostgresServer } from "../helpers/postgres-server.js";
import { TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";

// Two replicas with two back ends each, the embedded store (in PostgreSQL) and Vault, holding one
// name in both: a change notice evicts the name in the back end it names, and only there.
const masterKey = randomBytes(32).toString("base64");
let postgres: PostgresServer;
let databaseUrl: string;
let bed: VaultTestBed;
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  [postgres, bed] = await Promise.all([PostgresServer.start(), startVaultTestBed()]);
  databaseUrl = await postgres.createDatabase("several_backends");
  const vaultEnv = bed.env("token");
  const config = {
    secretgate: {
      backends: {
        local: {},
        "vault-eu": {
          key_management_system: "hashicorp_vault",
          key_management_settings: { access_mode: "read_and_write" },
          env: { HCP_VAULT_ADDR: vaultEnv.HCP_VAULT_ADDR, HCP_VAULT_TOKEN: "os.environ/VAULT_EU_TOKEN" },
        },
      },
      default_backend: "local",
    },
  };
  const env = {
    DATABASE_URL: databaseUrl,
    SECRETGATE_MASTER_KEY: masterKey,
    VAULT_EU_TOKEN: vaultEnv.HCP_VAULT_TOKEN!,
  };
  a = await TestServer.start({ config, env });
  b = await TestServer.start({ config, env });
});

afterAll(async () => {
  for (const server of [a, b]) {
    if (!server) continue;
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  await Promise.all([postgres?.stop(), bed?.close()]);
});

const readOnB = async (name: string) => (await b.grpc.read({ names: [name] })).results[0]!;

describe("change notices between replicas with several back ends", () => {
  it("evict a name in the back end the change was made in, and leave the same name in another back end cached", async () => {
    await a.grpc.write({ name: "local://SHARED", value: "local-v1" });
    await a.grpc.write({ name: "vault-eu://SHARED", value: "vault-v1" });
    await eventually(async () => (await readOnB("local://SHARED")).fromCache, "B caches the embedded store's SHARED");
    await eventually(async () => (await readOnB("vault-eu://SHARED")).fromCache, "B caches Vault's SHARED");

    await a.grpc.write({ name: "vault-eu://SHARED", value: "vault-v2" });
    await eventually(
      async () => (await readOnB("vault-eu://SHARED")).value === "vault-v2",
      "B reads Vault's new value",
    );
    expect(await readOnB("local://SHARED")).toMatchObject({ value: "local-v1", source: "local", fromCache: true });
  });

  it("take a notice without a back end, from a replica of an earlier release, to mean the default back end", async () => {
    await eventually(
      async () => (await readOnB("local://SHARED")).fromCache && (await readOnB("vault-eu://SHARED")).fromCache,
      "B has both cached",
    );
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const notice = { origin: "an-earlier-release", notice: { kind: "secret", teamId: "", name: "SHARED" } };
      await client.query("SELECT pg_notify($1, $2)", [CHANGE_CHANNEL, JSON.stringify(notice)]);
    } finally {
      await client.end();
    }
    await eventually(async () => !(await readOnB("local://SHARED")).fromCache, "B drops the embedded store's SHARED");
    expect(await readOnB("vault-eu://SHARED")).toMatchObject({ value: "vault-v2", fromCache: true });
  });
});
