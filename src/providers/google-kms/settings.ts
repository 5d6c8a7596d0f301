import { z } from "zod";
import { ConfigError } from "../../config/config-error.js";
import type { Env } from "../../config/env.js";
import { credentialFile, type GoogleConnection, parseEndpoint } from "../google-common/connection.js";
import { settingOrEnv } from "../google-common/setting.js";

export const SYSTEM = "google_kms";

/** A Cloud KMS CryptoKey resource name (Decrypt takes the key; KMS finds the version in the ciphertext). */
export const resourceName = z
  .string()
  .regex(
    /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/,
    "must be projects/*/locations/*/keyRings/*/cryptoKeys/*",
  );

export const kmsSettings = {
  resource_name: resourceName.optional(),
  endpoint: z.string().optional(),
};

export const kmsTeamSettings = z.strictObject({ resource_name: resourceName.optional() });

export interface KmsSettings {
  resourceName: string;
  connection: GoogleConnection;
}

/** The key and connection from the config, else GOOGLE_KMS_RESOURCE_NAME / GOOGLE_KMS_ENDPOINT. */
export function resolveKmsSettings(settings: Readonly<Record<string, unknown>>, env: Env): KmsSettings {
  const key = settingOrEnv(settings, "resource_name", env, "GOOGLE_KMS_RESOURCE_NAME");
  if (key.value === undefined) {
    throw new ConfigError(
      "google_kms needs a key: set GOOGLE_KMS_RESOURCE_NAME (projects/*/locations/*/keyRings/*/cryptoKeys/*)",
    );
  }
  if (!resourceName.safeParse(key.value).success) {
    throw new ConfigError(
      `${key.source}: ${JSON.stringify(key.value)} must be projects/*/locations/*/keyRings/*/cryptoKeys/*`,
    );
  }
  const endpoint = settingOrEnv(settings, "endpoint", env, "GOOGLE_KMS_ENDPOINT");
  const keyFile = credentialFile(env);
  return {
    resourceName: key.value,
    connection: {
      // Decrypt is one small unary call; the REST fallback is offered for Secret Manager only.
      transport: "grpc",
      ...(endpoint.value !== undefined ? { endpoint: parseEndpoint(endpoint.value, endpoint.source) } : {}),
      ...(keyFile ? { keyFile } : {}),
    },
  };
}
