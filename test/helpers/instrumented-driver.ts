import { setTimeout as sleep } from "node:timers/promises";
import { Code } from "../../src/core/errors.js";
import type { ClassifiedError, DriverCall, DriverWrite, SecretDriver, SecretValue } from "../../src/drivers/driver.js";
import type { LocalDriver } from "../../src/providers/local/local-driver.js";

/** A failure the instrumented back end answers with, as a real SDK error would carry a status. */
export class InjectedFault extends Error {
  constructor(
    readonly code: Code,
    readonly retryAfterMs?: number,
  ) {
    super(`injected ${Code[code]}`);
  }
}

/**
 * The embedded store with a back end's observable traits added — call counts, latency,
 * scripted failures, cheap version metadata — so the core's cache and resilience can be tested
 * without a network. Back-end drivers themselves are tested against their emulators.
 */
export class InstrumentedDriver implements SecretDriver {
  readonly capabilities = { write: true, binary: true, list: true };
  readonly calls = { read: 0, write: 0, delete: 0, currentVersion: 0 };
  latencyMs = 0;
  private faults: Array<{ code: Code; retryAfterMs?: number; remaining: number }> = [];
  observedAborts = 0;

  constructor(readonly store: LocalDriver) {}

  /** The next `times` back-end calls fail with `code` (Infinity: until cleared). */
  failNext(code: Code, times: number, retryAfterMs?: number): void {
    this.faults.push({ code, remaining: times, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }

  clearFaults(): void {
    this.faults = [];
  }

  async read(name: string, call: DriverCall): Promise<SecretValue | undefined> {
    this.calls.read++;
    await this.behave(call);
    return this.store.read(name);
  }

  async currentVersion(name: string, call: DriverCall): Promise<string | undefined> {
    this.calls.currentVersion++;
    await this.behave(call);
    return (await this.store.read(name))?.version;
  }

  async write(request: DriverWrite, call: DriverCall) {
    this.calls.write++;
    await this.behave(call);
    return this.store.write(request);
  }

  async delete(name: string, options: { force: boolean }, call: DriverCall) {
    this.calls.delete++;
    await this.behave(call);
    return this.store.delete(name);
  }

  async list() {
    return this.store.list();
  }

  classifyError(error: unknown): ClassifiedError {
    if (error instanceof InjectedFault) {
      return { code: error.code, message: error.message, ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}) };
    }
    return { code: Code.Unavailable, message: (error as Error).message };
  }

  async close(): Promise<void> {}

  private async behave(call: DriverCall): Promise<void> {
    if (this.latencyMs > 0) {
      try {
        await sleep(this.latencyMs, undefined, { signal: call.signal });
      } catch (error) {
        this.observedAborts++;
        throw error;
      }
    }
    const fault = this.faults[0];
    if (fault) {
      fault.remaining--;
      if (fault.remaining <= 0) this.faults.shift();
      throw new InjectedFault(fault.code, fault.retryAfterMs);
    }
  }
}
