import { Code } from "../errors.js";

/** Failures worth another attempt: the back end was busy or unreachable, not wrong. */
export const RETRYABLE_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.ResourceExhausted,
  Code.DeadlineExceeded,
  Code.Aborted,
]);

export interface BackoffSettings {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Base delay in milliseconds; attempt n waits up to base × 2^(n-1). */
  baseDelayMs: number;
  /** Cap on one delay in milliseconds. */
  maxDelayMs: number;
}

/**
 * "Full jitter" exponential backoff (AWS Architecture Blog, 2015): a uniform delay in
 * [0, min(cap, base × 2^attempt)), which spreads a fleet's retries instead of synchronising
 * them. A back end's Retry-After, when given, is a floor. All values are milliseconds.
 */
export function backoffDelayMs(
  settings: BackoffSettings,
  retry: number,
  retryAfterMs: number | undefined,
  random = Math.random,
): number {
  const ceiling = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** retry);
  const jittered = Math.floor(random() * ceiling);
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered);
}

/**
 * Caps retries to a fraction of first attempts over time (like Finagle's RetryBudget), so a
 * struggling back end sees at most that much extra load: each first attempt deposits `ratio`
 * of a token, each retry spends one, and a small reserve lets a quiet service retry at all.
 */
export class RetryBudget {
  private tokens: number;

  constructor(
    private readonly ratio: number,
    private readonly reserve: number,
  ) {
    this.tokens = reserve;
  }

  recordAttempt(): void {
    this.tokens = Math.min(this.tokens + this.ratio, this.reserve + 1000 * this.ratio);
  }

  /** Takes a token for one retry; false when the budget is spent. */
  tryRetry(): boolean {
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
