import type { Logger } from "pino";
import type { BackendConfig } from "../../src/config/schema.js";
import { Backend } from "../../src/core/backends.js";
import { CachedDriver, type CachedDriverSettings } from "../../src/core/cached-driver.js";
import type { DriverCapabilities, DriverDefinition, SecretDriver } from "../../src/drivers/driver.js";

/** The TTL `backendSettings` gives entries unless told otherwise. */
export const TTL_MS = 60_000;

/** Cache and resilience settings for a CachedDriver under test: quick retries, room for everything, `overrides` on top. */
export function cachedDriverSettings(overrides: Partial<CachedDriverSettings> = {}): CachedDriverSettings {
  return {
    ttlMs: TTL_MS,
    negativeTtlMs: 5_000,
    maxStalenessMs: 3_600_000,
    refreshAheadFraction: 0.1,
    bypassCache: false,
    maxEntries: 1000,
    maxBytes: 10 * 1024 * 1024,
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    retryBudgetRatio: 0.2,
    maxConcurrentCalls: 64,
    breakerFailureThreshold: 5,
    breakerOpenMs: 10_000,
    ...overrides,
  };
}

/**
 * One back end of an in-process service with several: `driver` behind a reachable CachedDriver that
 * calls once (no retries, no retry budget), whose breaker does not open during a test, with room
 * for a test's values; `overrides` on top.
 */
export function bedBackend(
  config: BackendConfig<DriverDefinition>,
  /** A test double declares its own capabilities; a real driver has its system's (`capabilities`, else the config's system). */
  driver: SecretDriver & { capabilities?: DriverCapabilities },
  logger: Logger,
  overrides: Partial<CachedDriverSettings> = {},
  capabilities: DriverCapabilities = driver.capabilities ?? config.definition.capabilities,
): Backend {
  const settings = cachedDriverSettings({
    negativeTtlMs: 60_000,
    maxStalenessMs: 60_000,
    refreshAheadFraction: 0,
    maxBytes: 1024 * 1024,
    retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    retryBudgetRatio: 0,
    maxConcurrentCalls: 8,
    breakerFailureThreshold: 1000,
    breakerOpenMs: 1_000,
    ...overrides,
  });
  return new Backend(
    config,
    new CachedDriver(driver, capabilities, config.name, settings, logger),
    { reachable: true },
    {},
  );
}
