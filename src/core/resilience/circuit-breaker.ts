export type BreakerState = "closed" | "open" | "half_open";

/**
 * Stops calling a back end that keeps failing: after `failureThreshold` consecutive
 * availability failures the breaker opens and calls fail fast (the cache can still serve
 * within max staleness); after `openMs` one probe call is let through (half-open) and its
 * outcome closes or re-opens the breaker.
 */
export class CircuitBreaker {
  private consecutiveFailures = 0;
  private openedAt = 0;
  private probing = false;
  private current: BreakerState = "closed";

  constructor(
    private readonly failureThreshold: number,
    private readonly openMs: number,
    private readonly onChange: (state: BreakerState) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    if (this.current === "open" && this.now() - this.openedAt >= this.openMs) this.transition("half_open");
    return this.current;
  }

  /** Whether a call may go to the back end now. In half-open, only one probe at a time. */
  allow(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "half_open" && !this.probing) {
      this.probing = true;
      return true;
    }
    return false;
  }

  recordSuccess(): void {
    this.consecutiveFailures = 0;
    this.probing = false;
    if (this.current !== "closed") this.transition("closed");
  }

  recordFailure(): void {
    this.consecutiveFailures++;
    const wasProbe = this.probing;
    this.probing = false;
    if (wasProbe || (this.current === "closed" && this.consecutiveFailures >= this.failureThreshold)) {
      this.openedAt = this.now();
      this.transition("open");
    }
  }

  private transition(state: BreakerState): void {
    if (state === this.current) return;
    this.current = state;
    this.onChange(state);
  }
}
