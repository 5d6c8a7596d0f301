import type { DriverDefinition } from "./driver.js";
import { localDriver } from "../providers/local/local-driver.js";

// One line per back end, registered under its key_management_system name. Each back end's module
// (and its SDK) is loaded only when it is configured: importing every SDK at start-up cost
// ~0.6 s and ~70 MB of memory that a process serving one back end never uses.
const loaders: Readonly<Record<string, () => Promise<DriverDefinition>>> = {
  local: async () => localDriver,
  aws_secret_manager: async () => (await import("../providers/aws-secrets-manager/secrets-manager-driver.js")).secretsManagerDriver,
  aws_kms: async () => (await import("../providers/aws-kms/kms-driver.js")).kmsDriver,
  azure_key_vault: async () => (await import("../providers/azure-key-vault/azure-key-vault-driver.js")).azureKeyVaultDriver,
  google_secret_manager: async () => (await import("../providers/google-secret-manager/definition.js")).googleSecretManagerDriver,
  google_kms: async () => (await import("../providers/google-kms/definition.js")).googleKmsDriver,
  hashicorp_vault: async () => (await import("../providers/hashicorp-vault/definition.js")).hashicorpVaultDriver,
  cyberark: async () => (await import("../providers/cyberark/cyberark-driver.js")).cyberArkDriver,
};

/** The back end's definition, loading its module on first use; undefined for an unknown name. */
export async function loadDriver(name: string): Promise<DriverDefinition | undefined> {
  return Object.hasOwn(loaders, name) ? loaders[name]!() : undefined;
}

export function driverNames(): string[] {
  return Object.keys(loaders);
}
