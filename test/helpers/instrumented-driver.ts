import { setTimeout as sleep } from "node:timers/promises";
import { Code } from "../../src/core/errors.js";
import type {
  ClassifiedError,
  DriverCall,
  DriverCapabilities,
  DriverWrite,
  DriverWriteResult,
  SecretDriver,
  SecretMetadata,
  SecretValue,
} from "../../src/drivers/driver.js";
import type { LocalDriver } from "../../src/providers/local/driver.js";

/** A failure the instrumented back end answers with, as a real SDK error would carry a status. */
export class InjectedFault extends Error {
  constructor(
    readonly code: Code,
    readonly retryAfterMs?: number,
  ) {
    super(`injected ${Code[code]}`);
  }
}

type Operation = keyof InstrumentedDriver["calls"];

/** What an interception may do to a read: answer in the store's place (e.g. as a lagging replica would). */
// biome-ignore lint/suspicious/noConfusingVoidType: a hook that only acts (another writer lands a write) returns nothing
export type Interception = void | { answer: SecretValue | undefined };

/**
 * The embedded store with a back end's observable traits added — call counts, latency,
 * scripted failures, cheap version metadata, a hook at the moment a call arrives — so the
 * core's cache, resilience and multi-step calls can be tested without a network. Back-end
 * drivers themselves are tested against their emulators.
 */
export class InstrumentedDriver implements SecretDriver {
  readonly calls = { read: 0, write: 0, delete: 0, currentVersion: 0, describe: 0, removeWrittenVersion: 0 };
  /** Every delete the back end received, in order. */
  readonly deletes: Array<{ name: string; force: boolean }> = [];
  /** Every single version the back end was asked to take back, in order. */
  readonly removedVersions: Array<{ name: string; version: string }> = [];
  latencyMs = 0;
  /**
   * Runs as a call reaches the back end (after latency and faults), before the store acts:
   * a test writes or deletes as another caller at exactly that moment, or answers a read itself.
   */
  intercept: ((operation: Operation, name: string) => Interception | Promise<Interception>) | undefined;
  private faults: Array<{ code: Code; retryAfterMs?: number; remaining: number }> = [];
  observedAborts = 0;

  constructor(
    readonly store: LocalDriver,
    /** What it says it can do; by default everything the embedded store can (another back end's, e.g. text only, to test the core's checks). */
    readonly capabilities: DriverCapabilities = {
      write: true,
      binary: true,
      list: true,
      metadata: { description: true, tags: true, writesReplace: true },
      versionRemoval: "destroy",
    },
  ) {}

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
    const interception = await this.intercept?.("read", name);
    return interception ? interception.answer : this.store.read(name);
  }

  async currentVersion(name: string, call: DriverCall): Promise<string | undefined> {
    this.calls.currentVersion++;
    await this.behave(call);
    await this.intercept?.("currentVersion", name);
    return (await this.store.read(name))?.version;
  }

  async describe(name: string, call: DriverCall): Promise<SecretMetadata | undefined> {
    this.calls.describe++;
    await this.behave(call);
    await this.intercept?.("describe", name);
    return this.store.describe(name);
  }

  async write(request: DriverWrite, call: DriverCall) {
    this.calls.write++;
    await this.behave(call);
    await this.intercept?.("write", request.name);
    return this.store.write(request);
  }

  async delete(name: string, options: { force: boolean }, call: DriverCall) {
    this.calls.delete++;
    this.deletes.push({ name, force: options.force });
    await this.behave(call);
    await this.intercept?.("delete", name);
    return this.store.delete(name);
  }

  async removeWrittenVersion(name: string, written: DriverWriteResult, call: DriverCall): Promise<boolean> {
    this.calls.removeWrittenVersion++;
    this.removedVersions.push({ name, version: written.version });
    await this.behave(call);
    await this.intercept?.("removeWrittenVersion", name);
    return this.store.removeWrittenVersion(name, written);
  }

  async list() {
    return this.store.list();
  }

  classifyError(error: unknown): ClassifiedError {
    if (error instanceof InjectedFault) {
      return {
        code: error.code,
        message: error.message,
        ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
      };
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
