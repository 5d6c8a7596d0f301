import { createDecipheriv, createSecretKey, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MemorySeal, type SealedValue } from "../../../src/core/cache/memory-seal.js";
import { SecretCache } from "../../../src/core/cache/secret-cache.js";
import { memoryReducingCollection } from "../../../src/idle-reclaim.js";

const counterBlock = (nonce: number) => {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(Math.floor(nonce / 2 ** 32), 0);
  iv.writeUInt32BE(nonce >>> 0, 4);
  return iv;
};

const openAll = (seal: MemorySeal, values: readonly SealedValue[]): Buffer[] =>
  seal.openMany(values, (plaintext, start, end) => Buffer.from(plaintext.subarray(start, end)));

describe("MemorySeal (the in-memory cache's encryption)", () => {
  it("is standard AES-256-CTR: Node's own aes-256-ctr opens what it sealed", () => {
    const key = createSecretKey(randomBytes(32));
    const seal = new MemorySeal(key);
    // Lengths below, at and across block boundaries.
    for (const length of [1, 15, 16, 17, 40, 100, 4097]) {
      const plaintext = randomBytes(length);
      const { nonce, sealed } = seal.seal(plaintext);
      const ciphertext = Buffer.from(sealed, "latin1");
      expect(ciphertext).toHaveLength(length);
      const decipher = createDecipheriv("aes-256-ctr", key, counterBlock(nonce));
      expect(Buffer.concat([decipher.update(ciphertext), decipher.final()]).equals(plaintext)).toBe(true);
    }
  });

  it("never holds the plaintext, and never reuses a nonce (the same value seals differently)", () => {
    const seal = new MemorySeal();
    const value = Buffer.from("sk-live-0123456789abcdef0123456789abcdef");
    const first = seal.seal(value);
    const second = seal.seal(value);
    expect(first.nonce).not.toBe(second.nonce);
    expect(first.sealed).not.toBe(second.sealed);
    expect(first.sealed).not.toContain("sk-live");
    const [openedFirst, openedSecond] = openAll(seal, [first, second]);
    expect(openedFirst!.equals(value)).toBe(true);
    expect(openedSecond!.equals(value)).toBe(true);
  });

  it("opens a batch of values of different lengths with one call, each to its own plaintext", () => {
    const seal = new MemorySeal();
    const plaintexts = Array.from({ length: 100 }, (_, index) => randomBytes(1 + ((index * 37) % 90)));
    const sealed = plaintexts.map((plaintext) => seal.seal(plaintext));
    const opened = openAll(seal, sealed);
    expect(opened.map((bytes) => bytes.toString("hex"))).toEqual(plaintexts.map((bytes) => bytes.toString("hex")));
    // A different key does not open them.
    expect(openAll(new MemorySeal(), [sealed[5]!])[0]!.equals(plaintexts[5]!)).toBe(false);
  });

  it("wipes the shared plaintext buffer once every value has been read", () => {
    const seal = new MemorySeal();
    const values = [seal.seal(Buffer.from("first-secret-value")), seal.seal(Buffer.from("second"))];
    let shared: Buffer | undefined;
    const texts = seal.openMany(values, (plaintext, start, end) => {
      shared = plaintext;
      return plaintext.toString("utf8", start, end);
    });
    expect(texts).toEqual(["first-secret-value", "second"]);
    expect(shared!.every((byte) => byte === 0)).toBe(true);
  });
});

describe("SecretCache", () => {
  const timing = { now: Date.now(), ttlMs: 60_000, refreshAt: Date.now() + 50_000 };

  it("opens text, binary and negative entries of one batch together", () => {
    const cache = new SecretCache({ maxEntries: 10, maxBytes: 1 << 20 });
    const text = cache.set("a", { text: "välue-ä", version: "1" }, timing);
    const binary = cache.set("b", { binary: Uint8Array.of(0, 255, 7), version: "2" }, timing);
    const negative = cache.set("c", undefined, timing);
    expect(cache.openMany([binary, negative, text])).toEqual([
      { binary: Uint8Array.of(0, 255, 7), version: "2" },
      undefined,
      { text: "välue-ä", version: "1" },
    ]);
    expect(text.sealed).not.toContain("välue");
  });

  it("evicts the least recently used entry beyond its entry and byte bounds", () => {
    const cache = new SecretCache({ maxEntries: 2, maxBytes: 1 << 20 });
    cache.set("a", { text: "1", version: "" }, timing);
    cache.set("b", { text: "2", version: "" }, timing);
    cache.get("a");
    cache.set("c", { text: "3", version: "" }, timing);
    expect([cache.get("a") !== undefined, cache.get("b") !== undefined, cache.get("c") !== undefined]).toEqual([
      true,
      false,
      true,
    ]);

    // peek (a change notice deciding whether to evict) is not a use: it does not keep an entry.
    const peeked = new SecretCache({ maxEntries: 2, maxBytes: 1 << 20 });
    peeked.set("a", { text: "1", version: "" }, timing);
    peeked.set("b", { text: "2", version: "" }, timing);
    expect(peeked.peek("a")).toBeDefined();
    peeked.set("c", { text: "3", version: "" }, timing);
    expect([peeked.peek("a"), peeked.peek("b") !== undefined, peeked.peek("c") !== undefined]).toEqual([
      undefined,
      true,
      true,
    ]);

    const small = new SecretCache({ maxEntries: 100, maxBytes: 1_000 });
    for (let index = 0; index < 20; index++) small.set(`k${index}`, { text: "x".repeat(100), version: "" }, timing);
    expect(small.byteSize).toBeLessThanOrEqual(1_000);
    expect(small.get("k19")).toBeDefined();
    expect(small.get("k0")).toBeUndefined();
  });

  it("keeps an entry's times and flags as they were set", () => {
    const cache = new SecretCache({ maxEntries: 10, maxBytes: 1 << 20 });
    const fetched = Date.UTC(2030, 0, 1, 12, 0, 0, 123);
    const entry = cache.set(
      "a",
      { text: "1", version: "7" },
      { now: fetched, ttlMs: 60_000, refreshAt: fetched + 50_000 },
    );
    expect([entry.fetchedAt, entry.expiresAt, entry.refreshAt, entry.version]).toEqual([
      fetched,
      fetched + 60_000,
      fetched + 50_000,
      "7",
    ]);
    expect([entry.negative, entry.binary, entry.refreshing]).toEqual([false, false, false]);
    entry.refreshing = true;
    cache.get("a");
    expect([entry.negative, entry.binary, entry.refreshing]).toEqual([false, false, true]);
    entry.fetchedAt = fetched + 1;
    entry.expiresAt = fetched + 2;
    expect([entry.fetchedAt, entry.expiresAt]).toEqual([fetched + 1, fetched + 2]);
    const negative = cache.set("b", undefined, { now: fetched, ttlMs: 5_000, refreshAt: fetched + 4_000 });
    const binary = cache.set("c", { binary: Uint8Array.of(1), version: "" }, timing);
    expect([negative.negative, negative.binary, binary.negative, binary.binary]).toEqual([true, false, false, true]);
  });

  it("holds an entry of a 100-byte value in under 260 bytes of heap, its map slot included", () => {
    const collect = memoryReducingCollection()!;
    const count = 20_000;
    const names = Array.from({ length: count }, (_, index) => `MEMORY_KEY_${String(index).padStart(6, "0")}`);
    const value = "v".repeat(100);
    const cache = new SecretCache({ maxEntries: count, maxBytes: 2 ** 30 });
    collect();
    const before = process.memoryUsage().heapUsed;
    for (const name of names)
      cache.set(
        name,
        { text: value, version: "1" },
        { now: timing.now, ttlMs: 3_600_000, refreshAt: timing.now + 3_400_000 + Math.random() },
      );
    collect();
    expect(cache.size).toBe(count);
    expect((process.memoryUsage().heapUsed - before) / count).toBeLessThan(260);
  });
});
