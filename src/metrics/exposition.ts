import type { Registry } from "prom-client";
import { exposedMetrics } from "./metrics.js";

let registry: Promise<Registry> | undefined;

/**
 * prom-client's registry with secretgate's metrics and the process metrics (CPU, memory, event-loop
 * lag, GC). Loaded on first use, off the start-up path: loading prom-client costs about 50 ms.
 */
export function prometheusRegistry(): Promise<Registry> {
  registry ??= import("prom-client").then(({ Registry, collectDefaultMetrics }) => {
    const created = new Registry();
    collectDefaultMetrics({ register: created, prefix: "secretgate_" });
    for (const metric of exposedMetrics) created.registerMetric(metric as never);
    return created;
  });
  return registry;
}

/** The text for GET /metrics and its content type. */
export async function renderMetrics(): Promise<{ contentType: string; text: string }> {
  const loaded = await prometheusRegistry();
  return { contentType: loaded.contentType, text: await loaded.metrics() };
}
