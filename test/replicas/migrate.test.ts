import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify as toYaml } from "yaml";
import { eventually } from "../helpers/eventually.js";
import { PostgresServer } from "../helpers/postgres-server.js";
import { type Finished, run } from "../helpers/run-process.js";
import { SERVER_ENTRY, TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";

// `secretgate migrate --config` with DATABASE_URL: the in-process run writes the embedded store
// where the replicas keep it (PostgreSQL) and tells them, through change notices, to drop what
// they cached of the names it wrote — here a "not found" the replica would otherwise remember
// for ten minutes.
const masterKey = randomBytes(32).toString("base64");
let postgres: PostgresServer;
let bed: VaultTestBed;
let replica: TestServer;
let configDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  [postgres, bed] = await Promise.all([PostgresServer.start(), startVaultTestBed()]);
  const databaseUrl = await postgres.createDatabase("migrate");
  const vaultEnv = bed.env("token");
  const config = {
    secretgate: {
      backends: {
        local: { cache: { negative_ttl_seconds: 600 } },
        vault: {
          key_management_system: "hashicorp_vault",
          key_management_settings: { access_mode: "read_and_write" },
          env: { HCP_VAULT_ADDR: vaultEnv.HCP_VAULT_ADDR, HCP_VAULT_TOKEN: "os.environ/VAULT_TOKEN" },
        },
      },
      default_backend: "local",
    },
  };
  env = { DATABASE_URL: databaseUrl, SECRETGATE_MASTER_KEY: masterKey, VAULT_TOKEN: vaultEnv.HCP_VAULT_TOKEN! };
  replica = await TestServer.start({ config, env });
  configDir = mkdtempSync(join(tmpdir(), "secretgate-migrate-replicas-"));
  writeFileSync(join(configDir, "config.yaml"), toYaml(config));
});

afterAll(async () => {
  if (replica) {
    await replica.stop();
    rmSync(replica.dataDir, { recursive: true, force: true });
  }
  if (configDir) rmSync(configDir, { recursive: true, force: true });
  await Promise.all([postgres?.stop(), bed?.close()]);
});

function migrateInProcess(args: string[]): Promise<Finished> {
  return run(process.execPath, [SERVER_ENTRY, "migrate", "--config", join(configDir, "config.yaml"), ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", SECRETGATE_DATA_DIR: replica.dataDir, ...env },
  });
}

describe("secretgate migrate --config beside running replicas", () => {
  it("copies into the embedded store in PostgreSQL, and the replica's remembered miss gives way at once", async () => {
    await replica.grpc.write({ name: "vault://MOVED_KEY", value: "sk-moved-to-postgres" });
    // The replica now remembers the miss (negative_ttl_seconds: 600): only a change notice makes it ask again.
    const miss = await replica.grpc.read({ names: ["local://MOVED_KEY"] });
    expect(miss.results[0]).toMatchObject({ found: false, error: { reason: "NOT_IN_BACKEND" } });

    const run = await migrateInProcess(["--from", "vault", "--to", "local", "--match", "MOVED_*"]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^copied +1$/m);
    expect(run.stdout + run.stderr).not.toContain("sk-moved-to-postgres");

    await eventually(
      async () => (await replica.grpc.read({ names: ["local://MOVED_KEY"] })).results[0]!.found,
      "the replica reads the copy",
    );
    expect((await replica.grpc.read({ names: ["local://MOVED_KEY"] })).results[0]).toMatchObject({
      value: "sk-moved-to-postgres",
      source: "local",
    });
  });
});
