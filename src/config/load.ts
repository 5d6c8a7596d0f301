import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { checkRoutes, configureBackends } from "./backends.js";
import { ConfigError } from "./config-error.js";
import type { Env } from "./env.js";
import { check } from "./issues.js";
import type { KnownSystem } from "./known-system.js";
import { type Config, serverSettingsSchema } from "./schema.js";
import { ServedEnvironment } from "./served-environment.js";

const ENV_REFERENCE = "os.environ/";

/** Environment variables that override the file (containers and scripts set these). */
const SERVER_ENV_OVERRIDES = {
  SECRETGATE_GRPC_ADDR: "grpc_address",
  SECRETGATE_HTTP_ADDR: "http_address",
  SECRETGATE_DATA_DIR: "data_dir",
  SECRETGATE_LOG_LEVEL: "log_level",
} as const;

/**
 * Reads and validates the config file (or none), applying environment overrides. `systems` are the
 * back ends the service knows (src/systems.ts), each with the settings it adds and the environment it reads.
 */
export async function loadConfig<S extends KnownSystem>(
  path: string | undefined,
  env: Env,
  systems: readonly S[],
): Promise<Config<S>> {
  let document: unknown = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
    }
    try {
      document = parseYaml(text) ?? {};
    } catch (error) {
      throw new ConfigError(`config file ${path} is not valid YAML: ${(error as Error).message}`);
    }
  }
  return parseConfig(document, env, systems, path);
}

/** Validates an already-parsed config document (a LiteLLM `config.yaml` with an optional `secretgate:` key). */
export async function parseConfig<S extends KnownSystem>(
  document: unknown,
  env: Env,
  systems: readonly S[],
  source?: string,
): Promise<Config<S>> {
  if (!isPlainObject(document)) throw new ConfigError("the config file must be a YAML mapping");
  // Only the parts secretgate reads get `os.environ/` substitution: a shared LiteLLM file also
  // references provider keys (the very secrets this service serves) that need not be set here.
  // The variables substituted are the service's own (callers' tokens among them): never served.
  const general = isPlainObject(document.general_settings) ? document.general_settings : {};
  const references = new Set<string>();
  const system = substituteEnv(
    general.key_management_system,
    "general_settings.key_management_system",
    env,
    references,
  );
  const rawSettings = substituteEnv(
    general.key_management_settings ?? {},
    "general_settings.key_management_settings",
    env,
    references,
  );
  const rawServer = substituteEnv(document.secretgate ?? {}, "secretgate", env, references);

  const serverInput = isPlainObject(rawServer) ? { ...rawServer } : rawServer;
  if (isPlainObject(serverInput) && Object.hasOwn(serverInput, "env_fallback")) {
    throw new ConfigError(
      "secretgate.env_fallback was removed: the service's own environment is " +
        "no longer served (callers read the names it does not host " +
        ("from their own environment); to serve chosen variables of the service's " +
          "environment, list them in secretgate.environment.serve (names or globs)"),
    );
  }
  if (isPlainObject(serverInput)) refuseRenamedKeys(serverInput);
  if (isPlainObject(serverInput)) {
    for (const [variable, key] of Object.entries(SERVER_ENV_OVERRIDES)) {
      const value = env[variable];
      if (value !== undefined && value !== "") serverInput[key] = value;
    }
  }
  // LiteLLM deployments already set DATABASE_URL; an explicit secretgate.database_url wins.
  if (isPlainObject(serverInput) && serverInput.database_url === undefined && env.DATABASE_URL) {
    serverInput.database_url = env.DATABASE_URL;
  }
  const server = check(serverSettingsSchema, serverInput, "secretgate");
  if (server.limits.max_arriving_body_bytes < server.max_message_bytes) {
    throw new ConfigError(
      `secretgate.limits.max_arriving_body_bytes: ` +
        `${server.limits.max_arriving_body_bytes} is less than ` +
        `secretgate.max_message_bytes (${server.max_message_bytes}), so a ` +
        `message of the largest size could never be read`,
    );
  }
  const present = general.key_management_system !== undefined || general.key_management_settings !== undefined;
  const { backends, defaultBackend } = configureBackends({ present, system, settings: rawSettings }, server, systems);
  checkRoutes(server, backends);
  const servedEnvironment = new ServedEnvironment({
    serve: server.environment.serve,
    configReferences: [...references],
    // Every system's variables and families, configured or not, and every variable a back end's `env` sets.
    systems: systems.map((known) => known.credentialEnvironment),
    backendVariables: backends.flatMap((backend) => Object.keys(backend.env)),
  });

  return {
    server,
    servedEnvironment,
    backends,
    defaultBackend,
    ...(source !== undefined ? { source } : {}),
  };
}

/**
 * Keys that were renamed: a config that still sets one is refused, naming the new key, rather than
 * have its settings quietly ignored (docs/configuration.md, "Renamed keys").
 */
function refuseRenamedKeys(server: Record<string, unknown>): void {
  const renamed = (at: string) =>
    new ConfigError(
      `${at}.backend was renamed ${at}.resilience (the deadline, retry, ` +
        `concurrency and circuit-breaker settings of calls to back ends; ` +
        "secretgate.backends and a route's backend name back ends): move its keys there",
    );
  if (Object.hasOwn(server, "backend")) throw renamed("secretgate");
  if (!isPlainObject(server.backends)) return;
  for (const [name, entry] of Object.entries(server.backends)) {
    if (isPlainObject(entry) && Object.hasOwn(entry, "backend")) throw renamed(`secretgate.backends.${name}`);
  }
}

/**
 * Keys whose values name secrets or variables (LiteLLM writes `hosted_keys: ["os.environ/X"]` for the
 * name X): resolving them would put the variable's value where a name goes, into listings, rules
 * and audit records.
 */
const NAME_KEYS: ReadonlySet<string> = new Set([
  "hosted_keys",
  "primary_secret_name",
  "names",
  "read",
  "write",
  "delete",
  "serve",
]);

/**
 * Replaces every `os.environ/NAME` string with that variable, adding NAME to `references`; a
 * missing one names its key. Values under NAME_KEYS are names and stay as they are.
 */
function substituteEnv(value: unknown, at: string, env: Env, references: Set<string>): unknown {
  if (NAME_KEYS.has(at.slice(at.lastIndexOf(".") + 1))) return value;
  if (typeof value === "string" && value.startsWith(ENV_REFERENCE)) {
    const variable = value.slice(ENV_REFERENCE.length);
    references.add(variable);
    const resolved = env[variable];
    if (resolved === undefined)
      throw new ConfigError(`${at}: refers to environment variable ${variable}, which is not set`);
    return resolved;
  }
  if (Array.isArray(value)) return value.map((item, index) => substituteEnv(item, `${at}.${index}`, env, references));
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, substituteEnv(item, `${at}.${key}`, env, references)]),
    );
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
