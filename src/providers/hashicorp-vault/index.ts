import type { DriverDefinition } from "../../drivers/driver.js";
import { refreshIntervalSeconds, SYSTEM, VAULT_ENV_NAMES, vaultTeamSettings } from "./settings.js";

/** `hashicorp_vault`: HashiCorp Vault's KV v2 engine, through Vault's HTTP API. */
export const definition: DriverDefinition = {
  name: SYSTEM,
  capabilities: {
    write: true,
    binary: false,
    list: true,
    metadata: { description: true, tags: true, writesReplace: true },
    sdkRetries: true,
    versionRemoval: "destroy",
  },
  teamSettings: vaultTeamSettings,
  // LiteLLM's names (HCP_VAULT_*, HCP's own credentials) and Vault's own tools' (VAULT_*).
  credentialEnvironment: { names: VAULT_ENV_NAMES, families: ["HCP_", "VAULT_"] },
  cachePolicy: ({ env }) => ({ ttlSeconds: refreshIntervalSeconds(env) }),
  load: () => import("./driver.js"),
};
