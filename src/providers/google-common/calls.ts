import { setTimeout as sleep } from "node:timers/promises";
import type { CallOptions } from "google-gax";
import type { Code } from "../../core/errors.js";
import type { DriverCall } from "../../drivers/driver.js";
import { untilAborted } from "../../drivers/until-aborted.js";
import { grpcStatusOf } from "./errors.js";

/** Attempts per call, first included: a throttling storm ends after this many back-end calls. */
export const MAX_ATTEMPTS = 3;
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 1_000;
/** Per-attempt limit when the caller gave no deadline. */
const DEFAULT_ATTEMPT_TIMEOUT_MS = 30_000;

/**
 * Runs one SDK call with secretgate's own bounded retries instead of the SDK's (whose
 * retry budget runs for minutes and, when exhausted, reports DEADLINE_EXCEEDED instead of
 * the last error). Each attempt gets the time left before the caller's deadline as the
 * SDK `timeout`, and the caller's signal ends the wait at once.
 */
export async function callWithRetries<T>(
  call: DriverCall,
  retryOn: readonly Code[],
  run: (options: CallOptions) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    call.signal.throwIfAborted();
    const timeout = call.deadline === undefined ? DEFAULT_ATTEMPT_TIMEOUT_MS : Math.max(1, call.deadline - Date.now());
    try {
      return await untilAborted(run({ timeout, retry: null }), call.signal);
    } catch (error) {
      const status = grpcStatusOf(error);
      if (attempt >= MAX_ATTEMPTS || status === undefined || !retryOn.includes(status) || call.signal.aborted)
        throw error;
      const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (attempt - 1));
      await sleep(backoff / 2 + Math.random() * (backoff / 2), undefined, { signal: call.signal }).catch(() => {
        throw call.signal.reason;
      });
    }
  }
}
