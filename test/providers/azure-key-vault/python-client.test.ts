import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AzureKeyVaultEmulator, startEmulator } from "../../emulators/azure-key-vault/index.js";
import { PYTHON } from "../../helpers/run-process.js";

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, "azure_keyvault_client.py");

describe("the Azure Key Vault emulator with Microsoft's Python SDK", () => {
  let vault: AzureKeyVaultEmulator;

  beforeAll(async () => {
    vault = await startEmulator({ host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await vault?.close();
  });

  it("sets, gets, deletes and purges through azure.identity and azure.keyvault.secrets, and is refused a disabled secret", async () => {
    const { stdout } = await run(
      PYTHON,
      [SCRIPT, vault.endpoint, vault.app.tenantId, vault.app.clientId, vault.app.clientSecret, vault.caFile],
      { timeout: 25_000, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" } },
    );
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    expect(result).toMatchObject({
      read_value: "from-python",
      read_tags: { by: "python" },
      recovery_id: `${vault.endpoint}/deletedsecrets/python-check`,
      deleted_name: "python-check",
      deleted_after_purge: [],
      rewritten_value: "again",
      disabled_refusal: {
        status: 403,
        code: "Forbidden",
        message: "Operation get is not allowed on a disabled secret.",
        inner: "SecretDisabled",
      },
      enabled_again: [true, "on"],
    });
    expect(result.read_version).toBe(result.written_version);
    const calls = vault.faults.calls();
    expect(calls.Challenge).toBeGreaterThanOrEqual(1);
    expect(calls.Token).toBeGreaterThanOrEqual(1);
    expect(calls.PurgeDeletedSecret).toBe(1);
  });
});
