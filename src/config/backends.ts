import { z } from "zod";
import { ConfigError } from "./config-error.js";
import { check } from "./issues.js";
import { commonKeyManagementSettings, type KeyManagementSettings } from "./key-management-settings.js";
import type { KnownSystem } from "./known-system.js";
import {
  BACKEND_NAME,
  BACKEND_NAME_RULE,
  type BackendConfig,
  type BackendEntry,
  cacheSettingsSchema,
  resilienceSettingsSchema,
  type ServerSettings,
} from "./schema.js";

const GENERAL = "general_settings";
/** `source: env` names the service's own environment: no back end may take that name. */
const RESERVED_NAMES = new Set(["env"]);
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What LiteLLM's `general_settings` say about the back end, `os.environ/` references already replaced. */
export interface GeneralBackend {
  /**
   * `key_management_system` or `key_management_settings` is set (a LiteLLM file may carry other general settings
   * only).
   */
  present: boolean;
  system: unknown;
  settings: unknown;
}

/**
 * Every back end the config names, and the default one. A LiteLLM config with one
 * `general_settings.key_management_system` is one back end named after its system (`local` when
 * none), so results keep the `source` they had; `secretgate.backends` adds named ones. Every
 * problem is a ConfigError naming its config path.
 */
export function configureBackends<S extends KnownSystem>(
  general: GeneralBackend,
  server: ServerSettings,
  systems: readonly S[],
): { backends: BackendConfig<S>[]; defaultBackend: string } {
  const named = Object.entries(server.backends ?? {});
  const backends: BackendConfig<S>[] = [];
  let generalName: string | undefined;
  if (general.present || named.length === 0) {
    if (general.system !== undefined && general.system !== null && typeof general.system !== "string") {
      throw new ConfigError(`${GENERAL}.key_management_system: must be a string`);
    }
    generalName = general.system || "local";
    backends.push(
      configureBackend(
        generalName,
        GENERAL,
        { key_management_system: generalName, key_management_settings: asSettings(general.settings) },
        server,
        systems,
      ),
    );
  }
  for (const [name, entry] of named) {
    const at = `secretgate.backends.${name}`;
    if (!BACKEND_NAME.test(name))
      throw new ConfigError(
        `secretgate.backends: ${JSON.stringify(name)} is not a back-end name: must be ${BACKEND_NAME_RULE}`,
      );
    if (RESERVED_NAMES.has(name))
      throw new ConfigError(
        `${at}: "${name}" is reserved (results served from the service's own environment say source "env")`,
      );
    if (name === generalName) {
      throw new ConfigError(
        `${at}: clashes with the back end ${GENERAL}.key_management_system ` +
          `configures, which is named after its system (${name}); rename this one`,
      );
    }
    backends.push(configureBackend(name, at, entry, server, systems));
  }
  const embedded = backends.filter((backend) => backend.system === "local");
  if (embedded.length > 1) {
    throw new ConfigError(
      `${embedded[1]!.at}: the embedded store is already configured as ` +
        `${embedded[0]!.name}; there is one embedded store per service`,
    );
  }
  return { backends, defaultBackend: defaultBackend(server, backends, generalName) };
}

function configureBackend<S extends KnownSystem>(
  name: string,
  at: string,
  entry: BackendEntry,
  server: ServerSettings,
  systems: readonly S[],
): BackendConfig<S> {
  const system = entry.key_management_system ?? "local";
  const definition = systems.find((known) => known.name === system);
  if (!definition) {
    throw new ConfigError(
      `${at}.key_management_system: unknown value ${JSON.stringify(system)}; ` +
        `expected one of ${systems.map((known) => known.name).join(", ")}`,
    );
  }
  const settingsSchema = z.strictObject({ ...commonKeyManagementSettings, ...(definition.settings ?? {}) });
  const settings = check(
    settingsSchema,
    entry.key_management_settings ?? {},
    `${at}.key_management_settings`,
  ) as KeyManagementSettings;
  const env = entry.env ?? {};
  for (const variable of Object.keys(env)) {
    if (!VARIABLE_NAME.test(variable))
      throw new ConfigError(`${at}.env.${variable}: not an environment variable name (letters, digits and '_')`);
  }
  return {
    name,
    system,
    definition,
    settings,
    accessMode: settings.access_mode ?? (system === "local" ? "read_and_write" : "read_only"),
    env,
    // The back end's own keys over the global ones, validated together so an unknown or bad key names this back end.
    cache: entry.cache ? check(cacheSettingsSchema, { ...server.cache, ...entry.cache }, `${at}.cache`) : server.cache,
    resilience: entry.resilience
      ? check(resilienceSettingsSchema, { ...server.resilience, ...entry.resilience }, `${at}.resilience`)
      : server.resilience,
    at,
  };
}

/** `secretgate.default_backend`; else the only back end; else the one `general_settings` configures. */
function defaultBackend(
  server: ServerSettings,
  backends: readonly BackendConfig[],
  generalName: string | undefined,
): string {
  const configured = server.default_backend;
  if (configured !== undefined) {
    if (!backends.some((backend) => backend.name === configured)) {
      throw new ConfigError(
        `secretgate.default_backend: no back end is named ` +
          `${JSON.stringify(configured)} (configured: ${names(backends)})`,
      );
    }
    return configured;
  }
  if (backends.length === 1) return backends[0]!.name;
  if (generalName !== undefined) return generalName;
  throw new ConfigError(
    `secretgate.default_backend: required with several back ends and none in ` +
      `${GENERAL}: name the one (of ${names(backends)}) that calls go to when ` +
      `no route places them`,
  );
}

/** Every back end a route names exists; a route's fallbacks are other back ends, each once. */
export function checkRoutes(server: ServerSettings, backends: readonly BackendConfig[]): void {
  const known = new Set(backends.map((backend) => backend.name));
  const require = (name: string, at: string) => {
    if (!known.has(name))
      throw new ConfigError(`${at}: no back end is named ${JSON.stringify(name)} (configured: ${names(backends)})`);
  };
  server.routes.forEach((route, index) => {
    const at = `secretgate.routes.${index}`;
    require(route.backend, `${at}.backend`);
    const seen = new Set([route.backend]);
    route.fallback.forEach((fallback, position) => {
      require(fallback, `${at}.fallback.${position}`);
      if (seen.has(fallback)) throw new ConfigError(`${at}.fallback.${position}: ${fallback} is already in this route`);
      seen.add(fallback);
    });
    if (route.mode === "dual_write") {
      for (const [name, field] of [
        [route.backend, "backend"],
        ...route.fallback.map((fallback, position) => [fallback, `fallback.${position}`]),
      ] as const) {
        const backend = backends.find((candidate) => candidate.name === name)!;
        if (backend.accessMode === "read_only") {
          throw new ConfigError(
            `${at}.${field}: ${name} is read_only (its access_mode), so it cannot ` +
              `take the writes mode dual_write sends it`,
          );
        }
      }
    }
  });
}

function asSettings(settings: unknown): Record<string, unknown> {
  return (settings ?? {}) as Record<string, unknown>;
}

function names(backends: readonly BackendConfig[]): string {
  return backends.map((backend) => backend.name).join(", ");
}

/**
 * A driver's start-up complaint about a named back end, told where in the config file to look:
 * its settings are under `secretgate.backends.NAME`, and a variable its `env` sets is named there.
 */
export function locateBackendError(error: unknown, backend: BackendConfig): unknown {
  if (!(error instanceof ConfigError) || backend.at === GENERAL) return error;
  let message = error.message.replaceAll(`${GENERAL}.key_management_settings`, `${backend.at}.key_management_settings`);
  if (!message.startsWith(backend.at)) {
    const variable = /^[A-Za-z_][A-Za-z0-9_]*/.exec(message)?.[0];
    message =
      variable !== undefined && Object.hasOwn(backend.env, variable)
        ? `${backend.at}.env.${variable}: ${message}`
        : `${backend.at}: ${message}`;
  }
  return new ConfigError(message);
}
