import { describe, expect, it } from "vitest";
import { memoryReducingCollection, QuietAfterWork } from "../../../src/idle-reclaim.js";

describe("QuietAfterWork", () => {
  const feed = (samples: number[]) => {
    const quiet = new QuietAfterWork();
    return samples.map((sample) => quiet.observe(sample));
  };

  it("counts the start as work: the fifth quiet second after it reclaims, once", () => {
    expect(feed([0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])).toEqual([
      false,
      false,
      false,
      false,
      false,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it("reclaims again only after new work, and a busy second starts the quiet count over", () => {
    const decisions = feed([0, 0, 0, 0, 0, 0.2, 0, 0, 0.3, 0, 0, 0, 0, 0]);
    expect(decisions.map((reclaim, second) => (reclaim ? second : -1)).filter((second) => second >= 0)).toEqual([
      4, 13,
    ]);
  });

  it("light traffic (busy 1–5 % of the time) neither ends the work nor counts as quiet", () => {
    expect(feed([0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0, 0, 0, 0])).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(feed([0.02, 0.02, 0, 0, 0, 0, 0])).toEqual([false, false, false, false, false, false, true]);
  });

  it("a server that stays busy never reclaims", () => {
    expect(feed(Array.from({ length: 60 }, () => 0.4)).some(Boolean)).toBe(false);
  });
});

describe("memoryReducingCollection", () => {
  it("is V8's full collection: a burst's garbage is gone after it, and no global gc appears", () => {
    const collect = memoryReducingCollection();
    expect(collect).toBeTypeOf("function");
    expect("gc" in globalThis).toBe(false);
    let garbage: Array<{ index: number; text: string }> = [];
    for (let index = 0; index < 400_000; index++) garbage.push({ index, text: `item ${index}` });
    const before = process.memoryUsage().heapUsed;
    garbage = [];
    collect!();
    expect(process.memoryUsage().heapUsed).toBeLessThan(before - 10 * 2 ** 20);
  });
});
