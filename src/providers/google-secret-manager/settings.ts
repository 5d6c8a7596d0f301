import { z } from "zod";
import { ConfigError } from "../../config/config-error.js";
import type { Env } from "../../config/env.js";
import type { KeyManagementSettings } from "../../config/key-management-settings.js";
import { credentialFile, type GoogleConnection, parseEndpoint, parseTransport } from "../google-common/connection.js";
import { settingOrEnv } from "../google-common/setting.js";

export const SYSTEM = "google_secret_manager";

/** Project ids (`my-project`, `example.com:my-project`) and numbers; never a path. */
export const projectId = z.string().regex(/^[a-z0-9][a-z0-9.:-]{0,99}$/, "must be a Google Cloud project id or number");

/** Label keys and values as Secret Manager accepts them (lowercase, digits, '_' and '-'). */
export const labelKey = z
  .string()
  .regex(
    /^\p{Ll}[\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u,
    "label keys must start with a lowercase letter and hold at most 63 lowercase letters, digits, '_' or '-'",
  );
export const labelValue = z
  .string()
  .regex(/^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u, "label values hold at most 63 lowercase letters, digits, '_' or '-'");

/** `automatic` (Google picks the locations) or the locations of user-managed replicas. */
export const replication = z.union([
  z.literal("automatic"),
  z.array(z.string().regex(/^[a-z][a-z0-9-]{1,62}$/, "must be a location such as us-east1")).min(1),
]);
export type Replication = z.infer<typeof replication>;

/** Extra `key_management_settings` keys; each overrides its environment variable. */
export const secretManagerSettings = {
  project_id: projectId.optional(),
  endpoint: z.string().optional(),
  transport: z.string().optional(),
  replication: replication.optional(),
};

export const secretManagerTeamSettings = z.strictObject({
  project_id: projectId.optional(),
  prefix: z.string().optional(),
  labels: z.record(labelKey, labelValue).optional(),
  replication: replication.optional(),
});

export interface SecretManagerSettings {
  project: string;
  replication: Replication;
  connection: GoogleConnection;
}

/**
 * Resolves the driver's settings from the config and LiteLLM's environment variables; a problem is a start-up
 * error.
 */
export function resolveSecretManagerSettings(settings: KeyManagementSettings, env: Env): SecretManagerSettings {
  const project = settingOrEnv(settings, "project_id", env, "GOOGLE_SECRET_MANAGER_PROJECT_ID");
  if (project.value === undefined) {
    throw new ConfigError(
      "google_secret_manager needs a project: set " +
        "GOOGLE_SECRET_MANAGER_PROJECT_ID or " +
        "general_settings.key_management_settings.project_id",
    );
  }
  if (!projectId.safeParse(project.value).success) {
    throw new ConfigError(`${project.source}: ${JSON.stringify(project.value)} is not a Google Cloud project id`);
  }
  const endpoint = settingOrEnv(settings, "endpoint", env, "GOOGLE_SECRET_MANAGER_ENDPOINT");
  const transport = settingOrEnv(settings, "transport", env, "GOOGLE_SECRET_MANAGER_TRANSPORT");
  const keyFile = credentialFile(env);
  return {
    project: project.value,
    replication: (settings.replication as Replication | undefined) ?? "automatic",
    connection: {
      transport: parseTransport(transport.value, transport.source),
      ...(endpoint.value !== undefined ? { endpoint: parseEndpoint(endpoint.value, endpoint.source) } : {}),
      ...(keyFile ? { keyFile } : {}),
    },
  };
}

/** GOOGLE_SECRET_MANAGER_REFRESH_INTERVAL (seconds, LiteLLM's default a day) and ALWAYS_READ (bypass the cache). */
export function secretManagerCachePolicy(env: Env): { ttlSeconds: number; bypass: boolean } {
  const interval = env.GOOGLE_SECRET_MANAGER_REFRESH_INTERVAL;
  const ttlSeconds = interval === undefined || interval === "" ? 86_400 : Number(interval);
  if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) {
    throw new ConfigError(
      `GOOGLE_SECRET_MANAGER_REFRESH_INTERVAL: ${JSON.stringify(interval)} must be a number of seconds`,
    );
  }
  return { ttlSeconds, bypass: env.GOOGLE_SECRET_MANAGER_ALWAYS_READ_SECRET_MANAGER?.toLowerCase() === "true" };
}
