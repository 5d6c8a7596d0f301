import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { BreakerState } from "../core/resilience/circuit-breaker.js";

/**
 * The process's Prometheus metrics, served on GET /metrics. Metric children are bound once per
 * label set and kept, so the request path only adds to numbers already in place.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: "secretgate_" });

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const requests = new Counter({
  name: "secretgate_requests_total",
  help: "RPCs answered, by method and status code.",
  labelNames: ["method", "code"] as const,
  registers: [registry],
});
const requestSeconds = new Histogram({
  name: "secretgate_request_duration_seconds",
  help: "RPC latency, by method.",
  labelNames: ["method"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

const cacheHits = backendCounter("secretgate_cache_hits_total", "Reads answered from a fresh cache entry.");
const cacheMisses = backendCounter("secretgate_cache_misses_total", "Reads that went to the back end (absent, expired or bypassed entries).");
const staleServes = backendCounter("secretgate_cache_stale_served_total", "Reads answered from an expired entry because the back end failed.");
const coalescedWaits = backendCounter("secretgate_cache_coalesced_waits_total", "Reads that waited for another caller's back-end read of the same name.");
const cacheResyncs = backendCounter("secretgate_cache_resyncs_total", "Times the whole cache was dropped because change notices may have been missed.");
const backendCalls = backendCounter("secretgate_backend_calls_total", "Calls made to the back end, retries included.");
const backendErrors = backendCounter("secretgate_backend_errors_total", "Back-end calls that failed.");
const backendSeconds = new Histogram({
  name: "secretgate_backend_call_duration_seconds",
  help: "Back-end call latency.",
  labelNames: ["backend"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

const BREAKER_STATES: readonly BreakerState[] = ["closed", "open", "half_open"];
const breakerSources = new Map<string, () => BreakerState>();
new Gauge({
  name: "secretgate_backend_breaker_state",
  help: "The back end's circuit breaker: 1 for the state it is in, 0 for the others.",
  labelNames: ["backend", "state"] as const,
  registers: [registry],
  collect() {
    for (const [backend, state] of breakerSources) {
      const current = state();
      for (const name of BREAKER_STATES) this.set({ backend, state: name }, name === current ? 1 : 0);
    }
  },
});

const auditRecords = new Counter({
  name: "secretgate_audit_records_total",
  help: "Audit records written.",
  registers: [registry],
});

/** Counts one written audit record. */
export function recordAuditRecord(): void {
  auditRecords.inc();
}

export interface RequestMetrics {
  /** One answered RPC: its method (e.g. Read), status name (OK, NOT_FOUND, …) and duration. */
  observe(method: string, status: string, seconds: number): void;
}

/** Request counters bound per method and status on first use. */
export function requestMetrics(): RequestMetrics {
  const bound = new Map<string, { latency: { observe(value: number): void }; byCode: Map<string, { inc(): void }> }>();
  return {
    observe(method, status, seconds) {
      let forMethod = bound.get(method);
      if (!forMethod) {
        forMethod = { latency: requestSeconds.labels(method), byCode: new Map() };
        bound.set(method, forMethod);
      }
      let counter = forMethod.byCode.get(status);
      if (!counter) {
        counter = requests.labels(method, status);
        forMethod.byCode.set(status, counter);
      }
      counter.inc();
      forMethod.latency.observe(seconds);
    },
  };
}

/** One back end's cache and call metrics, bound to its label. */
export interface BackendMetrics {
  cacheHits: { inc(): void };
  cacheMisses: { inc(): void };
  staleServes: { inc(): void };
  coalescedWaits: { inc(): void };
  cacheResyncs: { inc(): void };
  calls: { inc(): void };
  errors: { inc(): void };
  latency: { observe(seconds: number): void };
}

export function backendMetrics(backend: string, breakerState: () => BreakerState): BackendMetrics {
  breakerSources.set(backend, breakerState);
  return {
    cacheHits: zeroed(cacheHits, backend),
    cacheMisses: zeroed(cacheMisses, backend),
    staleServes: zeroed(staleServes, backend),
    coalescedWaits: zeroed(coalescedWaits, backend),
    cacheResyncs: zeroed(cacheResyncs, backend),
    calls: zeroed(backendCalls, backend),
    errors: zeroed(backendErrors, backend),
    latency: backendSeconds.labels(backend),
  };
}

/** The child for `backend`, exported as 0 from the start (a series that appears only on its first event confuses rate()). */
function zeroed(counter: Counter<"backend">, backend: string): { inc(): void } {
  const child = counter.labels(backend);
  child.inc(0);
  return child;
}

function backendCounter(name: string, help: string): Counter<"backend"> {
  return new Counter({ name, help, labelNames: ["backend"] as const, registers: [registry] });
}
