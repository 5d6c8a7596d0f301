import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CachedDriver } from "../../../src/core/cached-driver.js";
import { Code, ServiceError } from "../../../src/core/errors.js";
import type { DriverCall } from "../../../src/drivers/driver.js";
import { LocalDriver } from "../../../src/providers/local/driver.js";
import { SecretDatabase } from "../../../src/storage/database.js";
import { cachedDriverSettings, TTL_MS } from "../../helpers/cached-driver-settings.js";
import { InstrumentedDriver } from "../../helpers/instrumented-driver.js";

let dataDir: string;
let database: SecretDatabase;
let store: LocalDriver;
let driver: InstrumentedDriver;
const logger = pino({ level: "silent" });
const call = (timeoutMs = 5_000): DriverCall => ({ team: {}, signal: AbortSignal.timeout(timeoutMs) });
const put = (name: string, text: string) => store.write({ name, value: { text }, tags: {} });
const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (error: unknown) => error as ServiceError,
  );

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "secretgate-backend-"));
  database = SecretDatabase.open({ dataDir, masterKeyEnv: undefined }).database;
  store = new LocalDriver(database);
  driver = new InstrumentedDriver(store);
});
afterEach(() => {
  vi.useRealTimers();
  database.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Moves the clock the cache reads (Date) without touching timers, so latency still elapses for real. */
function freezeClock(): { advance(ms: number): void } {
  vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
  return { advance: (ms) => vi.setSystemTime(Date.now() + ms) };
}

/** Waits for a background refresh to reach a point, then lets it finish its remaining steps. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 5));
}

describe("cache", () => {
  it("coalesces 100 concurrent misses for one name into one back-end call", async () => {
    await put("HOT", "sk-hot");
    driver.latencyMs = 30;
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    const reads = await Promise.all(
      Array.from({ length: 100 }, () => backend.read("HOT", call(), { bypassCache: false })),
    );
    expect(driver.calls.read).toBe(1);
    expect(reads.every((read) => read.value?.text === "sk-hot")).toBe(true);
    expect(backend.stats.coalescedWaits).toBe(99);
  });

  it("serves hits from the cache and marks them", async () => {
    await put("A", "sk-a");
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    expect(await backend.read("A", call(), { bypassCache: false })).toMatchObject({ fromCache: false, stale: false });
    expect(await backend.read("A", call(), { bypassCache: false })).toMatchObject({
      fromCache: true,
      stale: false,
      value: { text: "sk-a" },
    });
    expect(driver.calls.read).toBe(1);
    await backend.read("A", call(), { bypassCache: true });
    expect(driver.calls.read).toBe(2);
  });

  it("sees a Write's new value on the next read", async () => {
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    await backend.write({ name: "W", value: { text: "one" }, tags: {} }, call());
    expect((await backend.read("W", call(), { bypassCache: false })).value?.text).toBe("one");
    await backend.write({ name: "W", value: { text: "two" }, tags: {} }, call());
    expect((await backend.read("W", call(), { bypassCache: false })).value?.text).toBe("two");
    await backend.delete("W", false, call());
    expect((await backend.read("W", call(), { bypassCache: false })).value).toBeUndefined();
  });

  it("remembers a miss briefly, and a Write evicts it", async () => {
    const clock = freezeClock();
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    expect((await backend.read("LATER", call(), { bypassCache: false })).value).toBeUndefined();
    expect((await backend.read("LATER", call(), { bypassCache: false })).value).toBeUndefined();
    expect(driver.calls.read).toBe(1);
    await backend.write({ name: "LATER", value: { text: "now" }, tags: {} }, call());
    expect((await backend.read("LATER", call(), { bypassCache: false })).value?.text).toBe("now");
    expect(driver.calls.read).toBe(2);
    // A miss not followed by a write is asked again once the negative TTL passes.
    await backend.read("GONE", call(), { bypassCache: false });
    clock.advance(5_001);
    await backend.read("GONE", call(), { bypassCache: false });
    expect(driver.calls.read).toBe(4);
  });

  it("refreshes a hot name ahead of expiry so readers never wait on the back end", async () => {
    const clock = freezeClock();
    await put("HOT", "v1");
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    await backend.read("HOT", call(), { bypassCache: false });
    await put("HOT", "v2");
    clock.advance(TTL_MS * 0.96);
    const during = await backend.read("HOT", call(), { bypassCache: false });
    expect(during).toMatchObject({ fromCache: true, value: { text: "v1" } });
    // The refresh saw a new version and fetched it.
    await until(() => driver.calls.read === 2);
    clock.advance(TTL_MS * 0.1);
    const after = await backend.read("HOT", call(), { bypassCache: false });
    expect(after).toMatchObject({ fromCache: true, value: { text: "v2", version: "2" } });
    expect(driver.calls.read).toBe(2);
  });

  it("checks the version first and fetches no value when it did not change", async () => {
    const clock = freezeClock();
    await put("STEADY", "same");
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    await backend.read("STEADY", call(), { bypassCache: false });
    for (let round = 0; round < 3; round++) {
      clock.advance(TTL_MS * 0.96);
      expect(await backend.read("STEADY", call(), { bypassCache: false })).toMatchObject({ fromCache: true });
      await until(() => driver.calls.currentVersion === round + 1);
    }
    clock.advance(TTL_MS * 0.5);
    expect(await backend.read("STEADY", call(), { bypassCache: false })).toMatchObject({ fromCache: true });
    expect(driver.calls.read).toBe(1);
  });

  it("refresh_if_version: many callers holding a rejected version make one back-end call", async () => {
    await put("ROTATED", "old");
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    await backend.read("ROTATED", call(), { bypassCache: false });
    await put("ROTATED", "new");
    driver.latencyMs = 20;
    const reads = await Promise.all(
      Array.from({ length: 50 }, () => backend.read("ROTATED", call(), { bypassCache: false, refreshIfVersion: "1" })),
    );
    expect(driver.calls.read).toBe(2);
    expect(reads.every((read) => read.value?.text === "new" && read.value.version === "2")).toBe(true);
    // The cache now holds version 2: asking to refresh version 1 again is answered from the cache.
    expect(await backend.read("ROTATED", call(), { bypassCache: false, refreshIfVersion: "1" })).toMatchObject({
      fromCache: true,
    });
    expect(driver.calls.read).toBe(2);
  });

  it("evicts the least recently used entries past the entry and byte bounds", async () => {
    const backend = new CachedDriver(
      driver,
      driver.capabilities,
      "test",
      cachedDriverSettings({ maxEntries: 3 }),
      logger,
    );
    for (const name of ["A", "B", "C"]) await put(name, name);
    for (const name of ["A", "B", "C"]) await backend.read(name, call(), { bypassCache: false });
    await backend.read("A", call(), { bypassCache: false });
    await put("D", "D");
    await backend.read("D", call(), { bypassCache: false });
    expect(backend.cacheSize.entries).toBe(3);
    const before = driver.calls.read;
    await backend.read("A", call(), { bypassCache: false });
    expect(driver.calls.read).toBe(before);
    await backend.read("B", call(), { bypassCache: false });
    expect(driver.calls.read).toBe(before + 1);

    const small = new CachedDriver(
      driver,
      driver.capabilities,
      "test",
      cachedDriverSettings({ maxBytes: 2_000 }),
      logger,
    );
    await put("BIG", "x".repeat(1_500));
    for (const name of ["A", "BIG", "C"]) await small.read(name, call(), { bypassCache: false });
    expect(small.cacheSize.bytes).toBeLessThanOrEqual(2_000);
    expect(small.cacheSize.entries).toBeLessThan(3);
  });
});

describe("stale-on-error", () => {
  it("serves an expired value marked stale while the back end is down, within max staleness only", async () => {
    const clock = freezeClock();
    await put("KEY", "last-good");
    const backend = new CachedDriver(
      driver,
      driver.capabilities,
      "test",
      cachedDriverSettings({ maxStalenessMs: 60_000, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }),
      logger,
    );
    await backend.read("KEY", call(), { bypassCache: false });
    driver.failNext(Code.Unavailable, Infinity);
    clock.advance(TTL_MS + 1);
    expect(await backend.read("KEY", call(), { bypassCache: false })).toMatchObject({
      stale: true,
      fromCache: true,
      value: { text: "last-good" },
    });
    clock.advance(60_000);
    const failure = await errorOf(backend.read("KEY", call(), { bypassCache: false }));
    expect(failure.code).toBe(Code.Unavailable);
  });

  it("never masks NOT_FOUND or PERMISSION_DENIED with a stale value", async () => {
    const clock = freezeClock();
    await put("KEY", "v");
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    await backend.read("KEY", call(), { bypassCache: false });
    clock.advance(TTL_MS + 1);
    driver.failNext(Code.PermissionDenied, 1);
    expect((await errorOf(backend.read("KEY", call(), { bypassCache: false }))).code).toBe(Code.PermissionDenied);
    await store.delete("KEY");
    expect(await backend.read("KEY", call(), { bypassCache: false })).toMatchObject({ value: undefined, stale: false });
  });
});

describe("changes that fail, and changes refused before they reach the back end", () => {
  const quick = { maxStalenessMs: 60_000, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } };

  it("a Write that failed at the back end ends its entry's freshness, but the old value still stands in, marked stale, while the back end fails", async () => {
    await put("KEY", "last-good");
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(quick), logger);
    await backend.read("KEY", call(), { bypassCache: false });
    driver.failNext(Code.Unavailable, Infinity);
    expect((await errorOf(backend.write({ name: "KEY", value: { text: "maybe" }, tags: {} }, call()))).code).toBe(
      Code.Unavailable,
    );
    expect(await backend.read("KEY", call(), { bypassCache: false })).toMatchObject({
      stale: true,
      fromCache: true,
      value: { text: "last-good" },
    });
    driver.clearFaults();
    expect(await backend.read("KEY", call(), { bypassCache: false })).toMatchObject({
      stale: false,
      fromCache: false,
      value: { text: "last-good" },
    });
  });

  it("a Write refused by the open breaker never reached the back end: the entry is kept fresh, and nobody is told of a change", async () => {
    await put("KEY", "kept");
    const backend = new CachedDriver(
      driver,
      driver.capabilities,
      "test",
      cachedDriverSettings({ ...quick, breakerFailureThreshold: 2 }),
      logger,
    );
    const changes: string[] = [];
    backend.onChange((name) => changes.push(name));
    await backend.read("KEY", call(), { bypassCache: false });
    driver.failNext(Code.Unavailable, 2);
    for (let attempt = 0; attempt < 2; attempt++) await errorOf(backend.read("OTHER", call(), { bypassCache: true }));
    expect(backend.breakerState).toBe("open");
    const writes = driver.calls.write;
    expect(
      (await errorOf(backend.write({ name: "KEY", value: { text: "refused" }, tags: {} }, call()))).message,
    ).toContain("circuit breaker open");
    expect(driver.calls.write).toBe(writes);
    expect(changes).toEqual([]);
    expect(await backend.read("KEY", call(), { bypassCache: false })).toMatchObject({
      fromCache: true,
      stale: false,
      value: { text: "kept" },
    });
  });

  it("a guard refusing changes stops Writes and Deletes before the driver, evicting nothing", async () => {
    await put("KEY", "kept");
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    await backend.read("KEY", call(), { bypassCache: false });
    backend.guardChanges(() => {
      throw new ServiceError(Code.Unavailable, "not now");
    });
    expect((await errorOf(backend.write({ name: "KEY", value: { text: "refused" }, tags: {} }, call()))).message).toBe(
      "not now",
    );
    expect((await errorOf(backend.delete("KEY", false, call()))).message).toBe("not now");
    expect(driver.calls.write).toBe(0);
    expect(driver.calls.delete).toBe(0);
    expect(await backend.read("KEY", call(), { bypassCache: false })).toMatchObject({
      fromCache: true,
      value: { text: "kept" },
    });
  });
});

describe("freshness bounded while other replicas' changes go unheard", () => {
  it("serves an entry as fresh for at most the bound after changes were last heard or it was fetched, then reads the back end again", async () => {
    const clock = freezeClock();
    await put("OLD", "old-1");
    await put("NEW", "new-1");
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    await backend.read("OLD", call(), { bypassCache: false });
    clock.advance(3_000);
    const heardAt = Date.now();
    clock.advance(1_000);
    backend.boundFreshness({ since: heardAt, ttlMs: 2_000 });
    await backend.read("NEW", call(), { bypassCache: false });
    const reads = driver.calls.read;
    clock.advance(999);
    // OLD: fetched before changes were last heard, fresh until heardAt + 2 s; NEW: fetched after, until its fetch + 2 s.
    expect(await backend.read("OLD", call(), { bypassCache: false })).toMatchObject({ fromCache: true });
    clock.advance(1);
    expect(await backend.read("OLD", call(), { bypassCache: false })).toMatchObject({ fromCache: false });
    expect(await backend.read("NEW", call(), { bypassCache: false })).toMatchObject({ fromCache: true });
    clock.advance(1_000);
    expect(await backend.read("NEW", call(), { bypassCache: false })).toMatchObject({ fromCache: false });
    expect(driver.calls.read).toBe(reads + 2);
    backend.boundFreshness(undefined);
    clock.advance(10_000);
    expect(await backend.read("NEW", call(), { bypassCache: false })).toMatchObject({ fromCache: true });
  });
});

describe("resilience", () => {
  it("retries throttling honouring Retry-After, then gives up with RESOURCE_EXHAUSTED after a bounded number of calls", async () => {
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    driver.failNext(Code.ResourceExhausted, Infinity, 10);
    const failure = await errorOf(backend.read("X", call(), { bypassCache: false }));
    expect(failure.code).toBe(Code.ResourceExhausted);
    expect(driver.calls.read).toBe(3);
  });

  it("recovers when a retry succeeds", async () => {
    await put("FLAKY", "ok");
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    driver.failNext(Code.Unavailable, 1);
    expect((await backend.read("FLAKY", call(), { bypassCache: false })).value?.text).toBe("ok");
    expect(driver.calls.read).toBe(2);
  });

  it("keeps retries within the budget during a storm: at most ~20 % extra calls", async () => {
    const backend = new CachedDriver(
      driver,
      driver.capabilities,
      "test",
      cachedDriverSettings({ breakerFailureThreshold: 1_000_000 }),
      logger,
    );
    driver.failNext(Code.ResourceExhausted, Infinity);
    const requests = 500;
    for (let i = 0; i < requests; i++) await errorOf(backend.read(`N${i}`, call(), { bypassCache: false }));
    // 20 % of first attempts plus the initial reserve of 10.
    expect(driver.calls.read).toBeLessThanOrEqual(requests * 1.2 + 10);
    expect(driver.calls.read).toBeGreaterThan(requests);
  });

  it("does not retry what is not retryable", async () => {
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    driver.failNext(Code.PermissionDenied, Infinity);
    expect((await errorOf(backend.read("X", call(), { bypassCache: false }))).code).toBe(Code.PermissionDenied);
    expect(driver.calls.read).toBe(1);
  });

  it("stops a call at the caller's deadline with DEADLINE_EXCEEDED and aborts the back-end call", async () => {
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    driver.latencyMs = 10_000;
    const failure = await errorOf(backend.read("SLOW", call(50), { bypassCache: false }));
    expect(failure.code).toBe(Code.DeadlineExceeded);
    expect(driver.observedAborts).toBe(1);
    expect(driver.calls.read).toBe(1);
  });

  it("opens the breaker after consecutive failures, fails fast, then probes and closes", async () => {
    const clock = freezeClock();
    await put("B", "back");
    const states: string[] = [];
    const backend = new CachedDriver(
      driver,
      driver.capabilities,
      "test",
      cachedDriverSettings({ breakerFailureThreshold: 3, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }),
      logger,
      (state) => states.push(state),
    );
    driver.failNext(Code.Unavailable, 3);
    for (let i = 0; i < 3; i++) await errorOf(backend.read("B", call(), { bypassCache: true }));
    expect(backend.breakerState).toBe("open");
    const failure = await errorOf(backend.read("B", call(), { bypassCache: true }));
    expect(failure).toMatchObject({ code: Code.Unavailable });
    expect(failure.message).toContain("circuit breaker open");
    expect(driver.calls.read).toBe(3);
    clock.advance(10_001);
    expect(backend.breakerState).toBe("half_open");
    expect((await backend.read("B", call(), { bypassCache: true })).value?.text).toBe("back");
    expect(backend.breakerState).toBe("closed");
    expect(states).toEqual(["open", "half_open", "closed"]);
  });

  it("limits concurrent back-end calls and queues the rest", async () => {
    const backend = new CachedDriver(
      driver,
      driver.capabilities,
      "test",
      cachedDriverSettings({ maxConcurrentCalls: 2 }),
      logger,
    );
    driver.latencyMs = 20;
    let peak = 0;
    let active = 0;
    const original = driver.read.bind(driver);
    driver.read = async (name, driverCall) => {
      active++;
      peak = Math.max(peak, active);
      try {
        return await original(name, driverCall);
      } finally {
        active--;
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, i) => backend.read(`C${i}`, call(), { bypassCache: false })));
    expect(peak).toBe(2);
    expect(driver.calls.read).toBe(8);
  });

  // Why the limit and the breaker are our own and not a library's (cockatiel's bulkhead and
  // breaker): a caller waiting for a slot or for the half-open probe must not outlive its deadline.
  it("lets a call waiting for a back-end slot give up at its own deadline, while the slot is still taken", async () => {
    const backend = new CachedDriver(
      driver,
      driver.capabilities,
      "test",
      cachedDriverSettings({ maxConcurrentCalls: 1 }),
      logger,
    );
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    driver.intercept = async (_operation, name) => {
      if (name === "HOLDS_THE_SLOT") await gate;
    };
    let holderDone = false;
    const holder = backend.read("HOLDS_THE_SLOT", call(), { bypassCache: false }).finally(() => (holderDone = true));
    await until(() => driver.calls.read === 1);
    const waiting = await errorOf(backend.read("WAITS", call(50), { bypassCache: false }));
    expect(waiting.code).toBe(Code.DeadlineExceeded);
    expect(holderDone).toBe(false);
    expect(driver.calls.read).toBe(1);
    release();
    await holder;
    // The slot it gave up is not lost: the next call gets through.
    await backend.read("AFTER", call(), { bypassCache: false });
    expect(driver.calls.read).toBe(2);
  });

  it("while half-open, lets one probe through and fails the other calls fast rather than holding them behind it", async () => {
    const clock = freezeClock();
    await put("P", "probed");
    const backend = new CachedDriver(
      driver,
      driver.capabilities,
      "test",
      cachedDriverSettings({ breakerFailureThreshold: 1, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }),
      logger,
    );
    driver.failNext(Code.Unavailable, 1);
    await errorOf(backend.read("P", call(), { bypassCache: true }));
    clock.advance(10_001);
    expect(backend.breakerState).toBe("half_open");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    driver.intercept = async () => {
      await gate;
    };
    const probe = backend.read("P", call(), { bypassCache: true });
    await until(() => driver.calls.read === 2);
    const other = await errorOf(backend.read("OTHER", call(), { bypassCache: true }));
    expect(other.code).toBe(Code.Unavailable);
    expect(other.message).toContain("circuit breaker open");
    expect(driver.calls.read).toBe(2);
    release();
    expect((await probe).value?.text).toBe("probed");
    expect(backend.breakerState).toBe("closed");
  });
});

describe("readUncached (what a migration's copy and verification read)", () => {
  it("neither joins a read under way nor is served from or stored in the cache", async () => {
    await put("K", "sk-first");
    driver.latencyMs = 30;
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    const cachedRead = backend.read("K", call(), { bypassCache: false });
    expect((await backend.readUncached("K", call()))?.text).toBe("sk-first");
    expect(driver.calls.read).toBe(2);
    await cachedRead;

    await put("K", "sk-second");
    expect((await backend.readUncached("K", call()))?.text).toBe("sk-second");
    // The cache still holds what the cached read stored: the uncached reads left it alone.
    expect(await backend.read("K", call(), { bypassCache: false })).toMatchObject({
      value: { text: "sk-first" },
      fromCache: true,
    });
    expect(await backend.readUncached("ABSENT", call())).toBeUndefined();
  });

  it("goes through the retries and the deadline like every back-end call", async () => {
    await put("K", "sk-retried");
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    driver.failNext(Code.Unavailable, 1);
    expect((await backend.readUncached("K", call()))?.text).toBe("sk-retried");
    driver.latencyMs = 10_000;
    expect((await errorOf(backend.readUncached("K", call(50)))).code).toBe(Code.DeadlineExceeded);
  });
});

describe("describe (a secret's description and tags)", () => {
  it("asks the back end every time: metadata is never cached", async () => {
    await store.write({ name: "META", value: { text: "sk-meta" }, description: "first", tags: { owner: "ml" } });
    const backend = new CachedDriver(driver, driver.capabilities, "test", cachedDriverSettings(), logger);
    expect(await backend.describe("META", call())).toEqual({ description: "first", tags: { owner: "ml" } });
    await store.write({ name: "META", value: { text: "sk-meta-2" }, description: "second", tags: {} });
    expect(await backend.describe("META", call())).toEqual({ description: "second", tags: {} });
    expect(await backend.describe("ABSENT", call())).toBeUndefined();
    expect(driver.calls.describe).toBe(3);
  });

  it("retries, honours the deadline and counts towards the breaker like every back-end call", async () => {
    await store.write({ name: "META", value: { text: "sk-meta" }, tags: { owner: "ml" } });
    const backend = new CachedDriver(
      driver,
      driver.capabilities,
      "test",
      cachedDriverSettings({ breakerFailureThreshold: 2 }),
      logger,
    );
    driver.failNext(Code.Unavailable, 1);
    expect(await backend.describe("META", call())).toEqual({ tags: { owner: "ml" } });
    expect(driver.calls.describe).toBe(2);

    driver.latencyMs = 10_000;
    expect((await errorOf(backend.describe("META", call(50)))).code).toBe(Code.DeadlineExceeded);
    driver.latencyMs = 0;
    driver.failNext(Code.Unavailable, Infinity);
    expect((await errorOf(backend.describe("META", call()))).code).toBe(Code.Unavailable);
    expect(backend.breakerState).toBe("open");
  });

  it("refuses a back end that keeps no metadata, naming it", async () => {
    const plain = new InstrumentedDriver(store, { write: true, binary: false, list: true });
    const backend = new CachedDriver(plain, plain.capabilities, "conjur-prod", cachedDriverSettings(), logger);
    const failure = await errorOf(backend.describe("META", call()));
    expect(failure).toMatchObject({
      code: Code.FailedPrecondition,
      message: "conjur-prod keeps no description or tags",
    });
    expect(plain.calls.describe).toBe(0);
  });
});

it("wraps unexpected driver errors through the driver's own classification", async () => {
  const backend = new CachedDriver(
    driver,
    driver.capabilities,
    "test",
    cachedDriverSettings({ retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }),
    logger,
  );
  driver.read = async () => {
    throw new TypeError("socket hang up");
  };
  const failure = await errorOf(backend.read("X", call(), { bypassCache: false }));
  expect(failure).toBeInstanceOf(ServiceError);
  expect(failure.code).toBe(Code.Unavailable);
});
