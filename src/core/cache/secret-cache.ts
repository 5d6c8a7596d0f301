import { LRUCache } from "lru-cache";
import type { SecretValue } from "../../drivers/driver.js";
import { MemorySeal, type SealedValue } from "./memory-seal.js";

// The entry's flags, in one small integer.
const NEGATIVE = 1;
const BINARY = 2;
const REFRESHING = 4;

/**
 * Times are held as milliseconds since this module loaded: small integers that V8 keeps in the
 * object itself, where an epoch-ms number is a separate 16-byte heap number (three per entry).
 * Past 24.8 days of uptime they no longer fit and become heap numbers again: larger, still right.
 */
const EPOCH = Date.now();

/**
 * One cached answer from the back end: a value, or "not found" (negative entry). Laid out for
 * 100,000 of them: seven fields, three booleans in one of them, times as small integers — 80
 * bytes of object where ten fields and three heap numbers took 152.
 */
export class CacheEntry implements SealedValue {
  private flags: number;
  private fetched: number;
  private expires: number;
  private refreshFrom: number;

  constructor(
    readonly nonce: number,
    readonly sealed: string,
    /** The back end's version of the value; empty for a negative entry. */
    readonly version: string,
    times: { fetchedAt: number; expiresAt: number; refreshAt: number },
    kind: { negative: boolean; binary: boolean },
  ) {
    this.flags = (kind.negative ? NEGATIVE : 0) | (kind.binary ? BINARY : 0);
    this.fetched = sinceEpoch(times.fetchedAt);
    this.expires = sinceEpoch(times.expiresAt);
    this.refreshFrom = sinceEpoch(times.refreshAt);
  }

  /** When the back end answered (epoch ms). */
  get fetchedAt(): number {
    return EPOCH + this.fetched;
  }

  set fetchedAt(epochMs: number) {
    this.fetched = sinceEpoch(epochMs);
  }

  /** Until when the entry is fresh (epoch ms). */
  get expiresAt(): number {
    return EPOCH + this.expires;
  }

  set expiresAt(epochMs: number) {
    this.expires = sinceEpoch(epochMs);
  }

  /** From when a read triggers a background refresh (epoch ms, whole): the last 10 % of the TTL, jittered. */
  get refreshAt(): number {
    return EPOCH + this.refreshFrom;
  }

  set refreshAt(epochMs: number) {
    this.refreshFrom = sinceEpoch(epochMs);
  }

  /** True for a cached "not found". */
  get negative(): boolean {
    return (this.flags & NEGATIVE) !== 0;
  }

  get binary(): boolean {
    return (this.flags & BINARY) !== 0;
  }

  /** A background refresh is running for this entry. */
  get refreshing(): boolean {
    return (this.flags & REFRESHING) !== 0;
  }

  set refreshing(value: boolean) {
    this.flags = value ? this.flags | REFRESHING : this.flags & ~REFRESHING;
  }
}

function sinceEpoch(epochMs: number): number {
  return Math.round(epochMs - EPOCH);
}

export interface CacheLimits {
  maxEntries: number;
  maxBytes: number;
}

// Bookkeeping per entry beyond the sealed bytes (key string, object, the cache's slots): an estimate
// so the byte bound also holds for many tiny values.
const ENTRY_OVERHEAD_BYTES = 200;

/**
 * A cache of back-end answers bounded by entry count and bytes, evicting the least recently used
 * first (lru-cache: its linked list in typed arrays keeps eviction O(1) when the cache is full,
 * where a Map's oldest entry gets slower to reach the more entries have been deleted before it).
 * Values are held sealed under a per-process key (MemorySeal), and a batch of entries is opened
 * with one cipher call.
 */
export class SecretCache {
  private readonly entries: LRUCache<string, CacheEntry>;
  private readonly seal = new MemorySeal();

  constructor(limits: CacheLimits) {
    // lru-cache allocates its slots up front, and no more entries than this can fit the byte bound anyway.
    const max = Math.max(1, Math.min(limits.maxEntries, Math.floor(limits.maxBytes / ENTRY_OVERHEAD_BYTES)));
    this.entries = new LRUCache({ max, maxSize: limits.maxBytes, sizeCalculation: entrySize });
  }

  get size(): number {
    return this.entries.size;
  }

  get byteSize(): number {
    return this.entries.calculatedSize;
  }

  /** The entry without marking it as used (e.g. to decide whether a change notice evicts it). */
  peek(key: string): CacheEntry | undefined {
    return this.entries.peek(key);
  }

  /** The entry, marked as used; expired entries are returned too (for stale serving). */
  get(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }

  set(
    key: string,
    value: SecretValue | undefined,
    timing: { now: number; ttlMs: number; refreshAt: number },
  ): CacheEntry {
    const plaintext = value === undefined ? undefined : (value.binary ?? Buffer.from(value.text ?? "", "utf8"));
    const { nonce, sealed } = plaintext === undefined ? { nonce: 0, sealed: "" } : this.seal.seal(plaintext);
    // The encoded copy of a text value is ours (it may sit in Buffer's shared pool): wipe it.
    if (plaintext !== undefined && value?.binary === undefined) plaintext.fill(0);
    const entry = new CacheEntry(
      nonce,
      sealed,
      value?.version ?? "",
      { fetchedAt: timing.now, expiresAt: timing.now + timing.ttlMs, refreshAt: timing.refreshAt },
      { negative: value === undefined, binary: value?.binary !== undefined },
    );
    // One larger than the byte bound is not kept (lru-cache drops it, and what the key held).
    this.entries.set(key, entry);
    return entry;
  }

  /** The cached value in the clear (undefined for a negative entry). */
  open(entry: CacheEntry): SecretValue | undefined {
    if (entry.negative) return undefined;
    return this.seal.openMany([entry], (plaintext, start, end) => clearValue(entry, plaintext, start, end))[0];
  }

  /** The values of several entries in the clear, opened together (one cipher call). */
  openMany(entries: readonly CacheEntry[]): Array<SecretValue | undefined> {
    const positive = entries.filter((entry) => !entry.negative);
    // Each value is copied out of the shared plaintext buffer, which the seal then wipes: the
    // clear value lives only where it is used.
    const values =
      positive.length === 0
        ? []
        : this.seal.openMany(positive, (plaintext, start, end, index) =>
            clearValue(positive[index]!, plaintext, start, end),
          );
    let next = 0;
    return entries.map((entry) => (entry.negative ? undefined : values[next++]));
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** An entry's value, copied out of the plaintext the seal opened it into (which the seal then wipes). */
function clearValue(entry: CacheEntry, plaintext: Buffer, start: number, end: number): SecretValue {
  const { binary, version } = entry;
  return binary
    ? { binary: new Uint8Array(plaintext.subarray(start, end)), version }
    : { text: plaintext.toString("utf8", start, end), version };
}

function entrySize(entry: CacheEntry, key: string): number {
  return ENTRY_OVERHEAD_BYTES + key.length * 2 + entry.sealed.length + entry.version.length * 2;
}
