import type { Logger } from "pino";
import { locateBackendError } from "./config/backends.js";
import type { Env } from "./config/env.js";
import type { BackendConfig, Config } from "./config/schema.js";
import { Backend } from "./core/backends.js";
import { CachedDriver, type CachedDriverSettings } from "./core/cached-driver.js";
import { StartupProbe } from "./core/reachability.js";
import type { BreakerState } from "./core/resilience/circuit-breaker.js";
import type { DriverDefinition, SecretDriver } from "./drivers/driver.js";
import type { SecretDatabase } from "./storage/database.js";
import type { PostgresDatabase } from "./storage/postgres/postgres-database.js";
import type { Tracing } from "./tracing/tracing.js";

export type Cleanup = () => Promise<void> | void;

/**
 * Runs every clean-up, in order, even when one fails (the audit file, closed last, must still be
 * flushed); a failure is logged, and the error that stopped the start stays the one reported.
 */
export async function runCleanups(cleanups: readonly Cleanup[], logger: Logger): Promise<void> {
  for (const cleanup of cleanups) {
    try {
      await cleanup();
    } catch (error) {
      logger.error({ error: (error as Error).message }, "a clean-up step failed");
    }
  }
}

export interface StartBackendsOptions {
  config: Config<DriverDefinition>;
  /** The process environment; each back end's own `env` goes over it. */
  env: Env;
  database: SecretDatabase;
  /** The shared database, when DATABASE_URL is set: the embedded store keeps its secrets there. */
  postgres?: PostgresDatabase | undefined;
  logger: Logger;
  tracing?: Tracing | undefined;
  onBreakerChange?: (backend: string, state: BreakerState) => void;
  /** Each driver's and probe's clean-up is put at the front as it is made (the last made is closed first). */
  cleanups: Cleanup[];
}

/**
 * Every configured back end: its driver, created from its own settings and environment, behind
 * the core's cache and resilience (`CachedDriver`) and its policy (`Backend`), with a start-up
 * probe that is not started yet. The server and `secretgate migrate --config` both start their
 * back ends here.
 */
export async function startBackends(
  options: StartBackendsOptions,
): Promise<{ backends: Backend[]; probes: StartupProbe[] }> {
  const { config, env, logger, cleanups } = options;
  const probes: StartupProbe[] = [];
  const backends: Backend[] = [];
  for (const backendConfig of config.backends) {
    const { name } = backendConfig;
    // The back end's own `env` over the process environment: two Vaults or two AWS accounts side by side.
    const driverEnv = Object.keys(backendConfig.env).length > 0 ? { ...env, ...backendConfig.env } : env;
    const ciphertextEnv = config.servedEnvironment.withoutProtected(driverEnv);
    let driver: SecretDriver;
    try {
      driver = await (await backendConfig.definition.load()).createDriver({
        settings: backendConfig.settings,
        env: driverEnv,
        ciphertextEnv,
        database: options.database,
        ...(options.postgres ? { postgres: options.postgres } : {}),
        logger: logger.child({ backend: name }),
      });
    } catch (error) {
      throw locateBackendError(error, backendConfig);
    }
    cleanups.unshift(() => driver.close());
    const cached = new CachedDriver(
      driver,
      backendConfig.definition.capabilities,
      name,
      cachedDriverSettings(backendConfig, driverEnv),
      logger,
      (state) => options.onBreakerChange?.(name, state),
      options.tracing,
    );
    const probe = new StartupProbe(cached, logger);
    cleanups.unshift(() => probe.stop());
    probes.push(probe);
    backends.push(new Backend(backendConfig, cached, probe, ciphertextEnv));
  }
  return { backends, probes };
}

/** Cache and resilience settings: the TTL override, else the back end's LiteLLM default, else ours. */
function cachedDriverSettings(config: BackendConfig<DriverDefinition>, env: Env): CachedDriverSettings {
  const { cache, resilience } = config;
  const policy = config.definition.cachePolicy?.({ env, settings: config.settings }) ?? {};
  const ttlSeconds = cache.ttl_seconds ?? policy.ttlSeconds ?? cache.default_ttl_seconds;
  return {
    ttlMs: ttlSeconds * 1000,
    negativeTtlMs: cache.negative_ttl_seconds * 1000,
    maxStalenessMs: cache.max_staleness_seconds * 1000,
    refreshAheadFraction: cache.refresh_ahead_fraction,
    bypassCache: policy.bypass ?? false,
    maxEntries: cache.max_entries,
    maxBytes: cache.max_bytes,
    retry: {
      maxAttempts: resilience.retry_max_attempts,
      baseDelayMs: resilience.retry_base_delay_ms,
      maxDelayMs: resilience.retry_max_delay_ms,
    },
    retryBudgetRatio: resilience.retry_budget_ratio,
    maxConcurrentCalls: resilience.max_concurrent_calls,
    breakerFailureThreshold: resilience.breaker_failure_threshold,
    breakerOpenMs: resilience.breaker_open_seconds * 1000,
  };
}
