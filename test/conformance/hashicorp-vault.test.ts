import { pino } from "pino";
import { expect } from "vitest";
import type { SecretDriver } from "../../src/drivers/driver.js";
import { definition as hashicorpVault } from "../../src/providers/hashicorp-vault/index.js";
import { createDriver } from "../helpers/create-driver.js";
import { AUTH_METHODS, startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";
import { runDriverConformance } from "./driver-suite.js";

// The whole suite once per way secretgate can log in to Vault.
for (const method of AUTH_METHODS) {
  let bed: VaultTestBed | undefined;
  runDriverConformance(`hashicorp_vault (${method} auth)`, {
    capabilities: hashicorpVault.capabilities,
    makeDriver: async (): Promise<SecretDriver> => {
      bed = await startVaultTestBed({
        policies: ["secretgate", "secretgate-tags", "team-a"],
        config: {
          namespaces: ["team-a"],
          policies: {
            // What docs/backends/hashicorp-vault.md's policy adds "when tags are set": writing custom_metadata.
            "secretgate-tags": [{ path: "secret/metadata/*", capabilities: ["create", "update"] }],
            "team-a": [
              { path: "team-a/secret/data/llm/*", capabilities: ["create", "read", "update", "delete"] },
              { path: "team-a/secret/metadata/llm/*", capabilities: ["read", "delete", "list"] },
            ],
          },
        },
      });
      return createDriver(hashicorpVault, {
        env: bed.env(method),
        ciphertextEnv: {},
        settings: { store_virtual_keys: false, prefix_for_stored_virtual_keys: "litellm/" },
        database: undefined as never,
        logger: pino({ level: "silent" }),
      });
    },
    close: async () => {
      // The suite ran on a token from this method's login (a static token needs none).
      expect(bed?.emulator.faults.calls().login ?? 0).toBe(method === "token" ? 0 : 1);
      await bed?.close();
    },
    unicodeNames: true,
    // KV v2 soft-deletes the latest version (undeletable); the metadata and history stay.
    recoverableDelete: true,
    slashNames: true,
    lists: true,
    otherTeam: { namespace: "team-a", path_prefix: "llm" },
    // The description is a field of each version's data; tags are custom_metadata, which only a write with tags sets.
    metadata: { description: "replaced", tags: "replacedUnlessNone" },
    // POST destroy/ of version 1, once the metadata shows it still has the write's created_time.
    versionRemoval: "destroy",
  });
}
