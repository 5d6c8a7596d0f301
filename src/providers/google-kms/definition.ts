import type { DriverDefinition } from "../../drivers/driver.js";
import { KmsCrypto } from "./kms-client.js";
import { KmsDriver } from "./kms-driver.js";
import { kmsSettings, kmsTeamSettings, resolveKmsSettings } from "./settings.js";

export const googleKmsDriver: DriverDefinition = {
  name: "google_kms",
  teamSettings: kmsTeamSettings,
  settings: kmsSettings,
  credentialEnvNames: ["GOOGLE_KMS_RESOURCE_NAME", "GOOGLE_KMS_ENDPOINT", "GCS_PATH_SERVICE_ACCOUNT", "GOOGLE_APPLICATION_CREDENTIALS"],
  create: async ({ settings, env }) => {
    const resolved = resolveKmsSettings(settings, env);
    return new KmsDriver(new KmsCrypto(resolved.connection), resolved.resourceName, env);
  },
};
