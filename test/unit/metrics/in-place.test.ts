import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { InPlaceCounter, InPlaceHistogram } from "../../../src/metrics/in-place.js";

describe("in-place metrics", () => {
  it("renders counters per label set, one cell per set", async () => {
    const registry = new Registry();
    const counter = new InPlaceCounter("demo_total", "Demo.");
    registry.registerMetric(counter as never);
    counter.cell({ method: "Read" }).inc();
    counter.cell({ method: "Read" }).inc();
    counter.cell({ method: "Write" }).inc();
    const text = await registry.metrics();
    expect(text).toContain("# TYPE demo_total counter");
    expect(text).toContain('demo_total{method="Read"} 2');
    expect(text).toContain('demo_total{method="Write"} 1');
  });

  it("renders cumulative histogram buckets, +Inf, sum and count", async () => {
    const registry = new Registry();
    const histogram = new InPlaceHistogram("demo_seconds", "Demo.", [0.1, 1]);
    registry.registerMetric(histogram as never);
    const cell = histogram.cell({ backend: "local" });
    for (const value of [0.05, 0.1, 0.5, 3]) cell.observe(value);
    const lines = (await registry.metrics()).split("\n");
    expect(lines).toEqual(
      expect.arrayContaining([
        "# TYPE demo_seconds histogram",
        'demo_seconds_bucket{backend="local",le="0.1"} 2',
        'demo_seconds_bucket{backend="local",le="1"} 3',
        'demo_seconds_bucket{backend="local",le="+Inf"} 4',
        'demo_seconds_sum{backend="local"} 3.65',
        'demo_seconds_count{backend="local"} 4',
      ]),
    );
  });
});
