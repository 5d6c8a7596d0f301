import type { DriverDefinition } from "./driver.js";
import { localDriver } from "../providers/local/local-driver.js";
import { secretsManagerDriver } from "../providers/aws-secrets-manager/secrets-manager-driver.js";
import { kmsDriver } from "../providers/aws-kms/kms-driver.js";
import { azureKeyVaultDriver } from "../providers/azure-key-vault/azure-key-vault-driver.js";
import { googleSecretManagerDriver } from "../providers/google-secret-manager/definition.js";
import { googleKmsDriver } from "../providers/google-kms/definition.js";
import { hashicorpVaultDriver } from "../providers/hashicorp-vault/definition.js";
import { cyberArkDriver } from "../providers/cyberark/cyberark-driver.js";

// One line per back end: its definition, registered under its key_management_system name.
const definitions: readonly DriverDefinition[] = [
  localDriver,
  secretsManagerDriver,
  kmsDriver,
  azureKeyVaultDriver,
  googleSecretManagerDriver,
  googleKmsDriver,
  hashicorpVaultDriver,
  cyberArkDriver,
];

const byName = new Map(definitions.map((definition) => [definition.name, definition]));

export function findDriver(name: string): DriverDefinition | undefined {
  return byName.get(name);
}

export function driverNames(): string[] {
  return [...byName.keys()];
}
