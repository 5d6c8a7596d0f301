import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DriverCall, SecretDriver } from "../../../src/drivers/driver.js";
import { definition as hashicorpVault } from "../../../src/providers/hashicorp-vault/index.js";
import { createDriver } from "../../helpers/create-driver.js";
import { PYTHON } from "../../helpers/run-process.js";
import { startVaultTestBed, type VaultTestBed } from "../../helpers/vault-test-bed.js";

const SCRIPT = join(import.meta.dirname, "hvac_check.py");

describe("the Vault emulator agrees with hvac, an independent Vault client", () => {
  let bed: VaultTestBed;
  let driver: SecretDriver;
  const call = (): DriverCall => ({ team: {}, signal: AbortSignal.timeout(10_000) });

  beforeAll(async () => {
    bed = await startVaultTestBed();
    driver = await createDriver(hashicorpVault, {
      env: bed.env("approle"),
      ciphertextEnv: {},
      settings: { store_virtual_keys: false, prefix_for_stored_virtual_keys: "litellm/" },
      database: undefined as never,
      logger: pino({ level: "silent" }),
    });
  });
  afterAll(async () => {
    await driver?.close();
    await bed?.close();
  });

  it("token and AppRole login, KV v2 create/read/versions/list/delete, and each reads the other's writes", async () => {
    await driver.write({ name: "cross/from-driver", value: { text: "written by secretgate" }, tags: {} }, call());
    // Asynchronously: the emulator answers from this very process.
    const run = await promisify(execFile)(
      PYTHON,
      [SCRIPT, bed.emulator.endpoint, bed.emulator.rootToken, bed.approle.roleId, bed.approle.secretId],
      {
        encoding: "utf8",
        timeout: 20_000,
      },
    );
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({
      root_authenticated: true,
      written_versions: [1, 2],
      latest: { value: "two", version: 2 },
      version_1: "one",
      metadata: { current_version: 2, versions: ["1", "2"] },
      listed: ["cross/", "hvac/"],
      listed_folder: ["from-driver"],
      list_of_nothing_missing: true,
      cas_conflict_refused: true,
      soft_deleted_reads_missing: true,
      undeleted: "two",
      destroyed_reads_missing: true,
      metadata_deleted: true,
      approle_lease: 3600,
      approle_authenticated: true,
      renewed_lease: 3600,
      read_driver_write: { key: "written by secretgate" },
      forbidden: true,
    });
    expect(await driver.read("cross/from-hvac", call())).toMatchObject({ text: "written by hvac", version: "1" });
  });
});
