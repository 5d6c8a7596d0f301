import type { DriverDefinition } from "../../drivers/driver.js";
import { kmsSettings, kmsTeamSettings, resolveKmsSettings } from "./settings.js";

export const googleKmsDriver: DriverDefinition = {
  name: "google_kms",
  teamSettings: kmsTeamSettings,
  settings: kmsSettings,
  credentialEnvNames: ["GOOGLE_KMS_RESOURCE_NAME", "GOOGLE_KMS_ENDPOINT", "GCS_PATH_SERVICE_ACCOUNT", "GOOGLE_APPLICATION_CREDENTIALS"],
  create: async ({ settings, env, ciphertextEnv, logger }) => {
    const resolved = resolveKmsSettings(settings, env);
    // The SDK (google-gax, gRPC) loads only when this back end is the one configured.
    const [{ KmsCrypto }, { KmsDriver }] = await Promise.all([import("./kms-client.js"), import("./kms-driver.js")]);
    return new KmsDriver(new KmsCrypto(resolved.connection), resolved.resourceName, ciphertextEnv, {
      logger,
      ...(settings.hosted_keys ? { hostedKeys: settings.hosted_keys } : {}),
    });
  },
};
