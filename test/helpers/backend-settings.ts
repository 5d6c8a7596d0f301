import type { BackendSettings } from "../../src/core/backend.js";

/** The TTL `backendSettings` gives entries unless told otherwise. */
export const TTL_MS = 60_000;

/** Cache and resilience settings for a Backend under test: quick retries, room for everything, `overrides` on top. */
export function backendSettings(overrides: Partial<BackendSettings> = {}): BackendSettings {
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
