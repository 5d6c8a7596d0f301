import type { DriverDefinition } from "../../drivers/driver.js";
import {
  resolveSecretManagerSettings,
  secretManagerCachePolicy,
  secretManagerSettings,
  secretManagerTeamSettings,
} from "./settings.js";

export const googleSecretManagerDriver: DriverDefinition = {
  name: "google_secret_manager",
  teamSettings: secretManagerTeamSettings,
  teamLocationKeys: ["project_id"],
  // Secret ids are `A-Za-z0-9_-`: LiteLLM's default prefix `litellm/` stores as `litellm-…`.
  prefixSeparator: "-",
  settings: secretManagerSettings,
  credentialEnvNames: [
    "GOOGLE_SECRET_MANAGER_PROJECT_ID",
    "GOOGLE_SECRET_MANAGER_ENDPOINT",
    "GOOGLE_SECRET_MANAGER_TRANSPORT",
    "GOOGLE_SECRET_MANAGER_REFRESH_INTERVAL",
    "GOOGLE_SECRET_MANAGER_ALWAYS_READ_SECRET_MANAGER",
    "GCS_PATH_SERVICE_ACCOUNT",
    "GOOGLE_APPLICATION_CREDENTIALS",
  ],
  cachePolicy: ({ env }) => secretManagerCachePolicy(env),
  create: async ({ settings, env }) => {
    secretManagerCachePolicy(env); // a malformed interval fails start-up, not the first read
    const resolved = resolveSecretManagerSettings(settings, env);
    // The SDK (google-gax, gRPC) loads only when this back end is the one configured.
    const { SecretManagerDriver } = await import("./secret-manager-driver.js");
    return new SecretManagerDriver(resolved);
  },
};
