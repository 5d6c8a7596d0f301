/**
 * Fault injection and call counting shared by the emulators. Tests (and sandbox users) set
 * faults through each emulator's admin endpoint; the emulator asks `next(operation)` before
 * serving a call and counts every call it receives.
 */
export interface FaultRule {
  /** Operation the rule applies to (e.g. "GetSecretValue"); omitted means every operation. */
  operation?: string;
  /** What to do: answer with a throttling error, a server error, drop the connection, or just delay. */
  kind: "throttle" | "error" | "drop" | "latency";
  /** How many calls the rule affects; omitted means until cleared. */
  times?: number;
  /** Added delay in milliseconds (for "latency", and before any other kind). */
  latencyMs?: number;
  /** For "error": the status to answer with (HTTP status or gRPC code, per emulator). */
  status?: number;
  /** For "throttle": seconds to put in Retry-After, where the protocol has it. */
  retryAfterSeconds?: number;
}

export class FaultInjector {
  private rules: FaultRule[] = [];
  private readonly counts = new Map<string, number>();

  set(rules: FaultRule[]): void {
    this.rules = rules.map((rule) => ({ ...rule }));
  }

  clear(): void {
    this.rules = [];
  }

  /** Counts the call and returns the fault to apply to it, if any (consuming one use of the rule). */
  next(operation: string): FaultRule | undefined {
    this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
    const rule = this.rules.find((candidate) => candidate.operation === undefined || candidate.operation === operation);
    if (!rule) return undefined;
    if (rule.times !== undefined) {
      rule.times -= 1;
      if (rule.times <= 0) this.rules.splice(this.rules.indexOf(rule), 1);
    }
    return rule;
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
