import { LRUCache } from "lru-cache";

/**
 * Locations (AWS region and role, Azure vault, Conjur account) one back end keeps clients or
 * tokens for. Team settings pick the location per call, and an identity allowed inline team
 * settings picks any it likes: without a bound, each new one would add an SDK client for good.
 */
export const MAX_LOCATIONS = 256;

/**
 * A client pushed out may still be carrying calls (an SDK call retries for up to three attempts of
 * eight seconds on AWS); it is retired only after this, well past any call's deadline.
 */
export const RETIRE_AFTER_MS = 60_000;

export interface LocationClientsOptions<Value> {
  max?: number;
  /** Frees what a client holds (its sockets); absent when the garbage collector is enough. */
  retire?: (value: Value) => void;
  retireAfterMs?: number;
}

/**
 * Clients (or tokens) per location, at most `max`, the least recently used pushed out first and
 * retired once calls it may carry are over. A location used again later simply gets a new client.
 */
export class LocationClients<Value extends object> {
  private readonly entries: LRUCache<string, Value>;
  private readonly retiring = new Map<Value, NodeJS.Timeout>();
  private readonly retire: ((value: Value) => void) | undefined;
  private closing = false;

  constructor(options: LocationClientsOptions<Value> = {}) {
    this.retire = options.retire;
    const retireAfterMs = options.retireAfterMs ?? RETIRE_AFTER_MS;
    this.entries = new LRUCache<string, Value>({
      max: options.max ?? MAX_LOCATIONS,
      dispose: (value) => {
        const retire = this.retire;
        if (!retire) return;
        if (this.closing) return retire(value);
        const timer = setTimeout(() => {
          this.retiring.delete(value);
          retire(value);
        }, retireAfterMs);
        timer.unref();
        this.retiring.set(value, timer);
      },
    });
  }

  /** The client for `key`, made by `make` when there is none (or it was pushed out). */
  get(key: string, make: () => Value): Value {
    let value = this.entries.get(key);
    if (value === undefined) {
      value = make();
      this.entries.set(key, value);
    }
    return value;
  }

  /** Forgets one location's client (e.g. a token the back end refused), retiring it like a pushed-out one. */
  delete(key: string, expected?: Value): void {
    if (expected === undefined || this.entries.peek(key) === expected) this.entries.delete(key);
  }

  /** The client for `key` if there is one (counted as a use). */
  find(key: string): Value | undefined {
    return this.entries.get(key);
  }

  /** Replaces `key`'s client; the one it replaces is retired like a pushed-out one. */
  set(key: string, value: Value): void {
    this.entries.set(key, value);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Clients pushed out and not yet retired. */
  get retiringCount(): number {
    return this.retiring.size;
  }

  /** Retires every client now, those waiting to be retired included. */
  close(): void {
    this.closing = true;
    try {
      this.entries.clear();
      for (const [value, timer] of this.retiring) {
        clearTimeout(timer);
        this.retire?.(value);
      }
      this.retiring.clear();
    } finally {
      this.closing = false;
    }
  }
}
