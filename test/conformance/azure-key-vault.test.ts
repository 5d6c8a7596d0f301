import { pino } from "pino";
import { MAX_SECRET_BYTES } from "../../src/providers/azure-key-vault/driver.js";
import { definition as azureKeyVault } from "../../src/providers/azure-key-vault/index.js";
import type { SecretDatabase } from "../../src/storage/database.js";
import { type AzureKeyVaultEmulator, sdkEnvironment, startEmulator } from "../emulators/azure-key-vault/index.js";
import { createDriver } from "../helpers/create-driver.js";
import { runDriverConformance } from "./driver-suite.js";

let emulator: AzureKeyVaultEmulator | undefined;

// The real SecretClient and ClientSecretCredential over HTTPS: MSAL discovers the emulator's
// Entra ID endpoint through AZURE_AUTHORITY_HOST, the vault answers with Key Vault's 401
// challenge, and TLS is verified against the emulator's CA (NODE_EXTRA_CA_CERTS).
runDriverConformance("azure_key_vault", {
  capabilities: azureKeyVault.capabilities,
  makeDriver: async () => {
    emulator = await startEmulator({ host: "127.0.0.1", port: 0 });
    return createDriver(azureKeyVault, {
      env: sdkEnvironment(emulator),
      ciphertextEnv: {},
      settings: { store_virtual_keys: true, prefix_for_stored_virtual_keys: "litellm/" },
      database: undefined as unknown as SecretDatabase,
      logger: pino({ level: "silent" }),
    });
  },
  close: async () => {
    await emulator?.close();
  },
  unicodeNames: false,
  // Soft delete: a write recovers the deleted secret, versions and all.
  recoverableDelete: true,
  maxValueBytes: MAX_SECRET_BYTES,
  // `a/b` is stored as `a-b` and read back under the same name.
  slashNames: true,
  // Tags belong to each version, so a write's tags replace the last one's; Key Vault has no description field.
  metadata: { tags: "replaced" },
  // Key Vault cannot delete one version: the write's version is disabled by its id.
  versionRemoval: "disable",
});
