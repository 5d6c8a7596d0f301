import { z } from "zod";
import { ConfigError, urlSetting } from "../../config/config-error.js";
import type { Env } from "../../config/env.js";

/** How secretgate proves itself to Vault, in LiteLLM's priority order (AppRole, cert) then ours. */
export type AuthMethod =
  | { kind: "approle"; mount: string; roleId: string; secretId: string }
  | { kind: "cert"; mount: "cert"; role?: string; certFile: string; keyFile: string }
  | { kind: "kubernetes"; mount: string; role: string; jwtFile: string }
  | { kind: "jwt"; mount: string; role: string; jwtFile: string }
  | { kind: "token"; token: string };

export interface VaultSettings {
  address: URL;
  /** Sent as X-Vault-Namespace on login and token-management calls only. */
  loginNamespace: string;
  /** A URL segment on data calls (a team's `namespace` replaces it). */
  secretNamespace: string;
  mount: string;
  pathPrefix: string;
  auth: AuthMethod;
  /** PEM file of the CA(s) that sign Vault's server certificate; the system roots when unset. */
  caFile?: string;
}

export const SYSTEM = "hashicorp_vault";

export const DEFAULT_KUBERNETES_JWT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token";
export const DEFAULT_REFRESH_INTERVAL_SECONDS = 86_400;

/** Every variable this back end reads; all are credentials or locations, never served to callers. */
export const VAULT_ENV_NAMES = [
  "HCP_VAULT_ADDR",
  "HCP_VAULT_TOKEN",
  "HCP_VAULT_NAMESPACE",
  "HCP_VAULT_LOGIN_NAMESPACE",
  "HCP_VAULT_SECRET_NAMESPACE",
  "HCP_VAULT_MOUNT_NAME",
  "HCP_VAULT_PATH_PREFIX",
  "HCP_VAULT_APPROLE_ROLE_ID",
  "HCP_VAULT_APPROLE_SECRET_ID",
  "HCP_VAULT_APPROLE_MOUNT_PATH",
  "HCP_VAULT_CLIENT_CERT",
  "HCP_VAULT_CLIENT_KEY",
  "HCP_VAULT_CERT_ROLE",
  "HCP_VAULT_CACERT",
  "HCP_VAULT_K8S_ROLE",
  "HCP_VAULT_K8S_JWT_PATH",
  "HCP_VAULT_K8S_MOUNT_PATH",
  "HCP_VAULT_JWT_ROLE",
  "HCP_VAULT_JWT_PATH",
  "HCP_VAULT_JWT_MOUNT_PATH",
  "HCP_VAULT_REFRESH_INTERVAL",
] as const;

// Control characters, line separators and URL delimiters have no place in a Vault path segment.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters a path segment may not hold
const UNSAFE_PATH_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029?#%\\]/u;

/** A Vault path fragment (namespace, mount, prefix): slash-separated, no `.`/`..` segments. */
function pathProblem(value: string): string | undefined {
  if (UNSAFE_PATH_CHARACTERS.test(value)) return "must not contain control characters, '?', '#', '%' or '\\'";
  const segments = trimSlashes(value).split("/");
  if (segments.some((segment) => segment === "." || segment === "..")) return "must not contain '.' or '..' segments";
  if (value !== "" && segments.some((segment) => segment === "")) return "must not contain empty segments ('//')";
  return undefined;
}

export const trimSlashes = (value: string) => value.replace(/^\/+|\/+$/g, "");

const vaultPath = (allowEmpty: boolean) =>
  z.string().superRefine((value, context) => {
    if (!allowEmpty && trimSlashes(value) === "") context.addIssue({ code: "custom", message: "must not be empty" });
    const problem = pathProblem(value);
    if (problem) context.addIssue({ code: "custom", message: problem });
  });

/** The keys a team may set for Vault (docs/backends/hashicorp-vault.md). Vault has no team `prefix`. */
export const vaultTeamSettings = z.strictObject({
  namespace: vaultPath(true).optional(),
  mount: vaultPath(false).optional(),
  path_prefix: vaultPath(true).optional(),
  data: z.string().min(1).max(256).optional(),
});

export type VaultTeam = z.infer<typeof vaultTeamSettings>;

/**
 * Reads LiteLLM's HCP_VAULT_* variables (plus our Kubernetes/JWT ones); a start-up error names the variable at
 * fault.
 */
export function readVaultSettings(env: Env): VaultSettings {
  const value = (name: (typeof VAULT_ENV_NAMES)[number]) => {
    const raw = env[name]?.trim();
    return raw === "" ? undefined : raw;
  };
  const addressText = value("HCP_VAULT_ADDR") ?? "http://127.0.0.1:8200";
  const address = urlSetting("HCP_VAULT_ADDR", addressText, ["http:", "https:"], "must start with http:// or https://");
  const namespace = value("HCP_VAULT_NAMESPACE") ?? "";
  const settings: VaultSettings = {
    address,
    loginNamespace: checkedPath("HCP_VAULT_LOGIN_NAMESPACE", value("HCP_VAULT_LOGIN_NAMESPACE") ?? namespace),
    secretNamespace: checkedPath("HCP_VAULT_SECRET_NAMESPACE", value("HCP_VAULT_SECRET_NAMESPACE") ?? namespace),
    mount: checkedPath("HCP_VAULT_MOUNT_NAME", value("HCP_VAULT_MOUNT_NAME") ?? "secret"),
    pathPrefix: checkedPath("HCP_VAULT_PATH_PREFIX", value("HCP_VAULT_PATH_PREFIX") ?? ""),
    auth: readAuthMethod(value),
  };
  const caFile = value("HCP_VAULT_CACERT");
  if (caFile) settings.caFile = caFile;
  if (settings.mount === "") throw new ConfigError("HCP_VAULT_MOUNT_NAME must not be empty");
  return settings;
}

function readAuthMethod(value: (name: (typeof VAULT_ENV_NAMES)[number]) => string | undefined): AuthMethod {
  const mount = (
    name: "HCP_VAULT_APPROLE_MOUNT_PATH" | "HCP_VAULT_K8S_MOUNT_PATH" | "HCP_VAULT_JWT_MOUNT_PATH",
    fallback: string,
  ) => checkedPath(name, value(name) ?? fallback);
  const roleId = value("HCP_VAULT_APPROLE_ROLE_ID");
  const secretId = value("HCP_VAULT_APPROLE_SECRET_ID");
  if (roleId || secretId) {
    if (!roleId || !secretId) {
      throw new ConfigError("AppRole needs both HCP_VAULT_APPROLE_ROLE_ID and HCP_VAULT_APPROLE_SECRET_ID");
    }
    return { kind: "approle", mount: mount("HCP_VAULT_APPROLE_MOUNT_PATH", "approle"), roleId, secretId };
  }
  const certFile = value("HCP_VAULT_CLIENT_CERT");
  const keyFile = value("HCP_VAULT_CLIENT_KEY");
  if (certFile || keyFile) {
    if (!certFile || !keyFile)
      throw new ConfigError("TLS certificate auth needs both HCP_VAULT_CLIENT_CERT and HCP_VAULT_CLIENT_KEY");
    const role = value("HCP_VAULT_CERT_ROLE");
    return { kind: "cert", mount: "cert", certFile, keyFile, ...(role ? { role } : {}) };
  }
  const kubernetesRole = value("HCP_VAULT_K8S_ROLE");
  if (kubernetesRole) {
    return {
      kind: "kubernetes",
      mount: mount("HCP_VAULT_K8S_MOUNT_PATH", "kubernetes"),
      role: kubernetesRole,
      jwtFile: value("HCP_VAULT_K8S_JWT_PATH") ?? DEFAULT_KUBERNETES_JWT_PATH,
    };
  }
  const jwtRole = value("HCP_VAULT_JWT_ROLE");
  if (jwtRole) {
    const jwtFile = value("HCP_VAULT_JWT_PATH");
    if (!jwtFile)
      throw new ConfigError("JWT auth (HCP_VAULT_JWT_ROLE) needs HCP_VAULT_JWT_PATH, the file holding the JWT");
    return { kind: "jwt", mount: mount("HCP_VAULT_JWT_MOUNT_PATH", "jwt"), role: jwtRole, jwtFile };
  }
  const token = value("HCP_VAULT_TOKEN");
  if (token) return { kind: "token", token };
  throw new ConfigError(
    "no Vault credentials: set HCP_VAULT_APPROLE_ROLE_ID + " +
      "HCP_VAULT_APPROLE_SECRET_ID, HCP_VAULT_CLIENT_CERT + " +
      "HCP_VAULT_CLIENT_KEY, " +
      "HCP_VAULT_K8S_ROLE, HCP_VAULT_JWT_ROLE + HCP_VAULT_JWT_PATH, or HCP_VAULT_TOKEN",
  );
}

/** HCP_VAULT_REFRESH_INTERVAL (seconds, LiteLLM's default 86400) as the cache TTL. */
export function refreshIntervalSeconds(env: Env): number {
  const raw = env.HCP_VAULT_REFRESH_INTERVAL?.trim();
  if (!raw) return DEFAULT_REFRESH_INTERVAL_SECONDS;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new ConfigError(`HCP_VAULT_REFRESH_INTERVAL must be a whole number of seconds, got ${JSON.stringify(raw)}`);
  }
  return seconds;
}

function checkedPath(name: string, value: string): string {
  const problem = pathProblem(value);
  if (problem) throw new ConfigError(`${name} ${problem}`);
  return trimSlashes(value);
}
