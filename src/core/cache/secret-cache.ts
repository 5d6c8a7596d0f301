import type { SecretValue } from "../../drivers/driver.js";
import { MemorySeal, type SealedValue } from "./memory-seal.js";

/** One cached answer from the back end: a value, or "not found" (negative entry). */
export interface CacheEntry extends SealedValue {
  /** The back end's version of the value; empty for a negative entry. */
  readonly version: string;
  /** When the back end answered (epoch ms). */
  fetchedAt: number;
  /** Until when the entry is fresh (epoch ms). */
  expiresAt: number;
  /** From when a read triggers a background refresh (epoch ms): the last 10 % of the TTL, jittered. */
  refreshAt: number;
  /** True for a cached "not found". */
  readonly negative: boolean;
  /** A background refresh is running for this entry. */
  refreshing: boolean;
  /** Read since eviction last looked at it (the second chance). */
  recentlyUsed: boolean;
  readonly binary: boolean;
}

export interface CacheLimits {
  maxEntries: number;
  maxBytes: number;
}

// Bookkeeping per entry beyond the sealed bytes (key string, object, Map slot): an estimate
// so the byte bound also holds for many tiny values.
const ENTRY_OVERHEAD_BYTES = 200;

/**
 * A cache of back-end answers bounded by entry count and bytes, evicting roughly least recently
 * used first. Values are held sealed under a
 * per-process key (MemorySeal), and a batch of entries is opened with one cipher call.
 */
export class SecretCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly seal = new MemorySeal();
  private bytes = 0;

  constructor(private readonly limits: CacheLimits) {}

  get size(): number {
    return this.entries.size;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** The entry without marking it as used (e.g. to decide whether a change notice evicts it). */
  peek(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }

  /** The entry, marked as used; expired entries are returned too (for stale serving). */
  get(key: string): CacheEntry | undefined {
    const entry = this.entries.get(key);
    if (entry) entry.recentlyUsed = true;
    return entry;
  }

  set(key: string, value: SecretValue | undefined, timing: { now: number; ttlMs: number; refreshAt: number }): CacheEntry {
    const plaintext = value === undefined ? undefined : value.binary ?? Buffer.from(value.text ?? "", "utf8");
    const { nonce, sealed } = plaintext === undefined ? { nonce: 0, sealed: "" } : this.seal.seal(plaintext);
    // The encoded copy of a text value is ours (it may sit in Buffer's shared pool): wipe it.
    if (plaintext !== undefined && value?.binary === undefined) plaintext.fill(0);
    const entry: CacheEntry = {
      nonce,
      sealed,
      version: value?.version ?? "",
      fetchedAt: timing.now,
      expiresAt: timing.now + timing.ttlMs,
      refreshAt: timing.refreshAt,
      negative: value === undefined,
      refreshing: false,
      recentlyUsed: false,
      binary: value?.binary !== undefined,
    };
    this.delete(key);
    this.entries.set(key, entry);
    this.bytes += entrySize(key, entry);
    this.evictOverflow();
    return entry;
  }

  /** The cached value in the clear (undefined for a negative entry). */
  open(entry: CacheEntry): SecretValue | undefined {
    return this.openMany([entry])[0];
  }

  /** The values of several entries in the clear, opened together (one cipher call). */
  openMany(entries: readonly CacheEntry[]): Array<SecretValue | undefined> {
    const positive = entries.filter((entry) => !entry.negative);
    // Each value is copied out of the shared plaintext buffer, which the seal then wipes: the
    // clear value lives only where it is used.
    const values =
      positive.length === 0
        ? []
        : this.seal.openMany(positive, (plaintext, start, end, index): SecretValue => {
            const { binary, version } = positive[index]!;
            return binary ? { binary: new Uint8Array(plaintext.subarray(start, end)), version } : { text: plaintext.toString("utf8", start, end), version };
          });
    let next = 0;
    return entries.map((entry) => (entry.negative ? undefined : values[next++]));
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entrySize(key, entry);
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  /**
   * Second-chance eviction (CLOCK): the oldest entry goes unless it was read since it was last
   * looked at, in which case it moves to the back. A hit only sets a flag, where strict LRU
   * would re-insert the entry into the map on every read.
   */
  private evictOverflow(): void {
    while (this.entries.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) {
      const oldest = this.entries.entries().next();
      if (oldest.done) return;
      const [key, entry] = oldest.value;
      this.entries.delete(key);
      if (entry.recentlyUsed) {
        entry.recentlyUsed = false;
        this.entries.set(key, entry);
      } else {
        this.bytes -= entrySize(key, entry);
      }
    }
  }
}

function entrySize(key: string, entry: CacheEntry): number {
  return ENTRY_OVERHEAD_BYTES + key.length * 2 + entry.sealed.length + entry.version.length * 2;
}
