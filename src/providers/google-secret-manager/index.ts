import type { DriverDefinition } from "../../drivers/driver.js";
import { googleCredentialEnvironment } from "../google-common/environment.js";
import { SYSTEM, secretManagerCachePolicy, secretManagerSettings, secretManagerTeamSettings } from "./settings.js";

/** `google_secret_manager`: Google Secret Manager, through @google-cloud/secret-manager. */
export const definition: DriverDefinition = {
  name: SYSTEM,
  capabilities: {
    write: true,
    binary: false,
    list: true,
    metadata: { description: true, tags: true, writesReplace: false },
    sdkRetries: true,
    versionRemoval: "destroy",
  },
  settings: secretManagerSettings,
  teamSettings: secretManagerTeamSettings,
  teamLocationKeys: ["project_id"],
  // Secret ids are `A-Za-z0-9_-`: LiteLLM's default prefix `litellm/` stores as `litellm-…`.
  prefixSeparator: "-",
  credentialEnvironment: googleCredentialEnvironment({
    names: [
      "GOOGLE_SECRET_MANAGER_PROJECT_ID",
      "GOOGLE_SECRET_MANAGER_ENDPOINT",
      "GOOGLE_SECRET_MANAGER_TRANSPORT",
      "GOOGLE_SECRET_MANAGER_REFRESH_INTERVAL",
      "GOOGLE_SECRET_MANAGER_ALWAYS_READ_SECRET_MANAGER",
    ],
    family: "GOOGLE_SECRET_MANAGER_",
  }),
  cachePolicy: ({ env }) => secretManagerCachePolicy(env),
  load: () => import("./driver.js"),
};
