import type { DriverDefinition } from "./driver.js";
import { localDriver } from "../providers/local/local-driver.js";
import { azureKeyVaultDriver } from "../providers/azure-key-vault/azure-key-vault-driver.js";
import { cyberArkDriver } from "../providers/cyberark/cyberark-driver.js";

// One line per back end: its definition, registered under its key_management_system name.
const definitions: readonly DriverDefinition[] = [localDriver, azureKeyVaultDriver, cyberArkDriver];

const byName = new Map(definitions.map((definition) => [definition.name, definition]));

export function findDriver(name: string): DriverDefinition | undefined {
  return byName.get(name);
}

export function driverNames(): string[] {
  return [...byName.keys()];
}
