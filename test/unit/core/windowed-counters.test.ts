import { describe, expect, it } from "vitest";
import { WindowedCounters } from "../../../src/core/stats/windowed-counters.js";

describe("WindowedCounters", () => {
  it("counts calls, errors, hits and misses of the last five minutes, oldest point first", () => {
    let now = 1_000_000_000;
    const counters = new WindowedCounters(() => now);
    counters.call(3, false);
    counters.hit();
    now += 295_000;
    counters.call(30, true);
    counters.miss();
    counters.hit();
    const snapshot = counters.snapshot();
    expect(snapshot).toMatchObject({ calls: 2, errors: 1, cacheHits: 2, cacheMisses: 1 });
    expect(snapshot.callsSeries[0]).toBe(1);
    expect(snapshot.callsSeries[29]).toBe(1);
    expect(snapshot.errorsSeries[29]).toBe(1);
    // Six seconds later the first second has left the window.
    now += 6_000;
    expect(counters.snapshot()).toMatchObject({ calls: 1, errors: 1, cacheHits: 1, cacheMisses: 1 });
  });

  it("reuses a second's row once it comes round again, forgetting what it held", () => {
    let now = 0;
    const counters = new WindowedCounters(() => now);
    for (let index = 0; index < 10; index++) counters.call(1, false);
    now += 300_000;
    counters.call(1, false);
    expect(counters.snapshot().calls).toBe(1);
  });

  it("reports p50 and p99 as the bounds of the histogram buckets they fall in", () => {
    const counters = new WindowedCounters(() => 5_000);
    for (let index = 0; index < 98; index++) counters.call(4, false);
    counters.call(150, false);
    counters.call(60_000, false);
    const { p50Ms, p99Ms } = counters.snapshot();
    expect(p50Ms).toBe(5);
    expect(p99Ms).toBe(200);
    expect(new WindowedCounters().snapshot()).toMatchObject({ calls: 0, p50Ms: 0, p99Ms: 0 });
  });
});
