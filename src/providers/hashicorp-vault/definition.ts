import type { DriverDefinition } from "../../drivers/driver.js";
import { VAULT_ENV_NAMES, readVaultSettings, refreshIntervalSeconds, vaultTeamSettings } from "./settings.js";
import { TokenSession } from "./token-session.js";
import { VaultDriver } from "./vault-driver.js";
import { VaultHttp } from "./vault-http.js";

export const hashicorpVaultDriver: DriverDefinition = {
  name: "hashicorp_vault",
  teamSettings: vaultTeamSettings,
  credentialEnvNames: VAULT_ENV_NAMES,
  cachePolicy: ({ env }) => ({ ttlSeconds: refreshIntervalSeconds(env) }),
  create: async ({ env, logger }) => {
    const settings = readVaultSettings(env);
    // A malformed refresh interval is a start-up error, not a surprise at the first cached read.
    refreshIntervalSeconds(env);
    const { auth } = settings;
    const http = new VaultHttp(settings.address, {
      ...(settings.caFile ? { caFile: settings.caFile } : {}),
      ...(auth.kind === "cert" ? { certFile: auth.certFile, keyFile: auth.keyFile } : {}),
    });
    const session = new TokenSession(http, auth, settings.loginNamespace, logger);
    return new VaultDriver(settings, http, session);
  },
};
