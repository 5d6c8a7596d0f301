import { z } from "zod";
import { ConfigError } from "../../config/load.js";
import { credentialFile, parseEndpoint, type GoogleConnection } from "../google-common/connection.js";

type Env = Readonly<Record<string, string | undefined>>;

/** A Cloud KMS CryptoKey (or CryptoKeyVersion) resource name. */
export const resourceName = z
  .string()
  .regex(
    /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+(\/cryptoKeyVersions\/[^/]+)?$/,
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
  const key = (settings.resource_name as string | undefined) ?? env.GOOGLE_KMS_RESOURCE_NAME;
  if (key === undefined || key === "") {
    throw new ConfigError("google_kms needs a key: set GOOGLE_KMS_RESOURCE_NAME (projects/*/locations/*/keyRings/*/cryptoKeys/*)");
  }
  if (!resourceName.safeParse(key).success) {
    throw new ConfigError(`GOOGLE_KMS_RESOURCE_NAME: ${JSON.stringify(key)} must be projects/*/locations/*/keyRings/*/cryptoKeys/*`);
  }
  const endpoint = (settings.endpoint as string | undefined) ?? env.GOOGLE_KMS_ENDPOINT;
  const keyFile = credentialFile(env);
  return {
    resourceName: key,
    connection: {
      // Decrypt is one small unary call; the REST fallback is offered for Secret Manager only.
      transport: "grpc",
      ...(endpoint ? { endpoint: parseEndpoint(endpoint, settings.endpoint === undefined ? "GOOGLE_KMS_ENDPOINT" : "general_settings.key_management_settings.endpoint") } : {}),
      ...(keyFile ? { keyFile } : {}),
    },
  };
}
