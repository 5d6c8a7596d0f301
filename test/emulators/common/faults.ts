/**
 * Fault injection and call counting shared by the emulators. Tests (and sandbox users) set
 * faults through each emulator's admin endpoint; the emulator asks `next(operation)` before
 * serving a call and counts every call it receives.
 */
export interface FaultRule {
  /** Operation the rule applies to (e.g. "GetSecretValue"); omitted means every operation. */
  operation?: string;
  /**
   * The secret the call names, for emulators that tell (AWS, Azure Key Vault); omitted means
   * any. With it a test stalls one name's read while calls on other names go through.
   */
  target?: string;
  /**
   * What to do: answer with a throttling error, a server error, drop the connection, just delay,
   * hold the call until the test calls `release()` (then serve it as usual), or `lag`: answer a
   * read as a replica that has not seen the target's writes yet would, with the service's own
   * "not found" (as Google documents for reads of `latest` just after a write: eventually consistent).
   */
  kind: "throttle" | "error" | "drop" | "latency" | "hold" | "lag";
  /** How many calls the rule affects; omitted means until cleared. */
  times?: number;
  /**
   * Matching calls let through untouched before the rule applies: 1 aims at a name's second
   * read (a write that first looks the name up, then the read-back after it).
   */
  after?: number;
  /** Added delay in milliseconds (for "latency", and before any other kind). */
  latencyMs?: number;
  /** For "error": the status to answer with (HTTP status or gRPC code, per emulator). */
  status?: number;
  /** For "throttle": seconds to put in Retry-After, where the protocol has it. */
  retryAfterSeconds?: number;
  /** For "hold": the longest a call is held when nobody releases it (default 30 s), so nothing hangs. */
  maxHoldMs?: number;
  /**
   * Another writer's value, landing on `target` as the call arrives and before it is answered
   * (whatever the kind): the emulator stores it as a second client's write would — a new version,
   * or a new secret where there is none. With `lag` on a read-back it is the race in which a
   * lagging back end answers "not found" while another writer's version lands.
   */
  interleave?: { value: string };
}

/** A matched rule as an emulator applies it; a "hold" carries the moment the call may go on. */
export interface AppliedFault extends FaultRule {
  released?: Promise<void>;
}

const DEFAULT_MAX_HOLD_MS = 30_000;

export class FaultInjector {
  private rules: FaultRule[] = [];
  private readonly counts = new Map<string, number>();
  private held: Array<() => void> = [];
  private holdWatchers: Array<() => void> = [];

  set(rules: FaultRule[]): void {
    this.rules = rules.map((rule) => ({ ...rule }));
  }

  clear(): void {
    this.rules = [];
  }

  /**
   * Counts the call and returns the fault to apply to it, if any (consuming one use of the rule).
   * `target` is the secret the call names, where the emulator knows it.
   */
  next(operation: string, target?: string): AppliedFault | undefined {
    this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
    const rule = this.rules.find(
      (candidate) =>
        (candidate.operation === undefined || candidate.operation === operation) &&
        (candidate.target === undefined || candidate.target === target),
    );
    if (!rule) return undefined;
    if (rule.after !== undefined && rule.after > 0) {
      rule.after -= 1;
      return undefined;
    }
    if (rule.times !== undefined) {
      rule.times -= 1;
      if (rule.times <= 0) this.rules.splice(this.rules.indexOf(rule), 1);
    }
    return rule.kind === "hold" ? { ...rule, released: this.hold(rule.maxHoldMs ?? DEFAULT_MAX_HOLD_MS) } : rule;
  }

  /** Resolves once a call is being held (at once if one already is). */
  whenHolding(): Promise<void> {
    if (this.held.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.holdWatchers.push(resolve));
  }

  /** Lets every held call go on. */
  release(): void {
    for (const go of this.held.splice(0)) go();
  }

  private hold(maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const go = () => {
        clearTimeout(timer);
        this.held = this.held.filter((other) => other !== go);
        resolve();
      };
      const timer = setTimeout(go, maxMs);
      this.held.push(go);
      for (const watcher of this.holdWatchers.splice(0)) watcher();
    });
  }

  /** Calls received per operation since the last reset. */
  calls(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  resetCalls(): void {
    this.counts.clear();
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
