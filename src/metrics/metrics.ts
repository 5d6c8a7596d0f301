import type { BreakerState } from "../core/resilience/circuit-breaker.js";
import { type CounterCell, type HistogramCell, InPlaceCounter, InPlaceHistogram, type Sample } from "./in-place.js";

/**
 * secretgate's own metrics. Series on the request path are cells made once per label set (see
 * in-place.ts); exposition.ts hands them to prom-client when /metrics is first served.
 */
export interface ExposedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }>;
}

export const exposedMetrics: ExposedMetric[] = [];

function expose<T extends ExposedMetric>(metric: T): T {
  exposedMetrics.push(metric);
  return metric;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const requests = expose(new InPlaceCounter("secretgate_requests_total", "RPCs answered, by method and status code."));
const requestSeconds = expose(
  new InPlaceHistogram("secretgate_request_duration_seconds", "RPC latency, by method.", LATENCY_BUCKETS),
);

const cacheHits = expose(new InPlaceCounter("secretgate_cache_hits_total", "Reads answered from a fresh cache entry."));
const cacheMisses = expose(
  new InPlaceCounter(
    "secretgate_cache_misses_total",
    "Reads that went to the back end (absent, expired or bypassed entries).",
  ),
);
const staleServes = expose(
  new InPlaceCounter(
    "secretgate_cache_stale_served_total",
    "Reads answered from an expired entry because the back end failed.",
  ),
);
const coalescedWaits = expose(
  new InPlaceCounter(
    "secretgate_cache_coalesced_waits_total",
    "Reads that waited for another caller's back-end read of the same name.",
  ),
);
const cacheResyncs = expose(
  new InPlaceCounter(
    "secretgate_cache_resyncs_total",
    "Times the whole cache was dropped because change notices from other replicas may have been missed.",
  ),
);
const backendCalls = expose(
  new InPlaceCounter("secretgate_backend_calls_total", "Calls made to the back end, retries included."),
);
const backendErrors = expose(new InPlaceCounter("secretgate_backend_errors_total", "Back-end calls that failed."));
const backendSeconds = expose(
  new InPlaceHistogram(
    "secretgate_backend_call_duration_seconds",
    "Back-end call latency, waiting for a free call slot included.",
    LATENCY_BUCKETS,
  ),
);
const auditRecords = expose(new InPlaceCounter("secretgate_audit_records_total", "Audit records written.")).cell();
const auditRefused = expose(
  new InPlaceCounter(
    "secretgate_audit_refused_total",
    "Calls refused with UNAVAILABLE because their audit record could not be written (audit.on_failure: fail_closed).",
  ),
).cell();
const auditAnsweredUnwritten = expose(
  new InPlaceCounter(
    "secretgate_audit_answered_unwritten_total",
    "Calls answered while audit records could not be written " +
      "(audit.on_failure: fail_open); their records are written once writes " +
      "work again, unless dropped.",
  ),
).cell();
const auditDropped = expose(
  new InPlaceCounter(
    "secretgate_audit_dropped_records_total",
    "Audit records lost: the audit log already held as much as it keeps while it cannot write (32 MiB).",
  ),
).cell();
let auditWriting = 1;
expose({
  name: "secretgate_audit_writing",
  help: "1 while audit records reach their destination, 0 while writes to it fail.",
  type: "gauge",
  async get() {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: "sum",
      values: [{ labels: {}, value: auditWriting }],
    };
  },
});
const listenerErrors = expose(
  new InPlaceCounter(
    "secretgate_listener_errors_total",
    "Connections and requests a listener refused, closed or failed before or outside an RPC, by listener and kind.",
  ),
);

const BREAKER_STATES: readonly BreakerState[] = ["closed", "open", "half_open"];
const breakerSources = new Map<string, () => BreakerState>();
expose({
  name: "secretgate_backend_breaker_state",
  help: "The back end's circuit breaker: 1 for the state it is in, 0 for the others.",
  type: "gauge",
  async get() {
    const values: Sample[] = [];
    for (const [backend, state] of breakerSources) {
      const current = state();
      for (const name of BREAKER_STATES)
        values.push({ labels: { backend, state: name }, value: name === current ? 1 : 0 });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: "sum", values };
  },
});

const listenerConnectionSources = new Map<string, () => { open: number; busiestPeer: number }>();
const listenerConnectionGauge = (
  name: string,
  help: string,
  value: (counts: { open: number; busiestPeer: number }) => number,
) =>
  expose({
    name,
    help,
    type: "gauge",
    async get() {
      const values: Sample[] = [...listenerConnectionSources].map(([listener, counts]) => ({
        labels: { listener },
        value: value(counts()),
      }));
      return { name: this.name, help: this.help, type: this.type, aggregator: "sum", values };
    },
  });
listenerConnectionGauge("secretgate_listener_connections", "Open connections on a listener.", (counts) => counts.open);
listenerConnectionGauge(
  "secretgate_listener_busiest_peer_connections",
  "The most open connections one peer (an IPv4 address, an IPv6 /64) holds on a listener.",
  (counts) => counts.busiestPeer,
);

/** Reports a listener's open connections, and the most one peer holds, when /metrics is served. */
export function reportListenerConnections(listener: string, counts: () => { open: number; busiestPeer: number }): void {
  listenerConnectionSources.set(listener, counts);
}

/** Counts one written audit record. */
export function recordAuditRecord(): void {
  auditRecords.inc();
}

/** The audit log's health series. */
export interface AuditHealthMetrics {
  writing(writing: boolean): void;
  refused(calls: number): void;
  answeredUnwritten(calls: number): void;
  dropped(records: number): void;
}

export function auditHealthMetrics(): AuditHealthMetrics {
  return {
    writing: (writing) => {
      auditWriting = writing ? 1 : 0;
    },
    refused: (calls) => auditRefused.inc(calls),
    answeredUnwritten: (calls) => auditAnsweredUnwritten.inc(calls),
    dropped: (records) => auditDropped.inc(records),
  };
}

/** One listener's error series, by kind (e.g. client_error, header_timeout). */
export function listenerErrorCell(listener: string, kind: string): CounterCell {
  return listenerErrors.cell({ listener, kind });
}

export interface RequestMetrics {
  /** One answered RPC: its method (e.g. Read), status name (OK, NOT_FOUND, …) and duration. */
  observe(method: string, status: string, seconds: number): void;
}

/** Request series, looked up per method and status (two map lookups, no allocation once seen). */
export function requestMetrics(): RequestMetrics {
  const byMethod = new Map<string, { latency: HistogramCell; byStatus: Map<string, CounterCell> }>();
  return {
    observe(method, status, seconds) {
      let series = byMethod.get(method);
      if (!series) {
        series = { latency: requestSeconds.cell({ method }), byStatus: new Map() };
        byMethod.set(method, series);
      }
      let counter = series.byStatus.get(status);
      if (!counter) {
        counter = requests.cell({ method, code: status });
        series.byStatus.set(status, counter);
      }
      counter.inc();
      series.latency.observe(seconds);
    },
  };
}

/** One back end's cache and call series. */
export interface BackendMetrics {
  cacheHits: CounterCell;
  cacheMisses: CounterCell;
  staleServes: CounterCell;
  coalescedWaits: CounterCell;
  cacheResyncs: CounterCell;
  calls: CounterCell;
  errors: CounterCell;
  latency: HistogramCell;
}

export function backendMetrics(backend: string, breakerState: () => BreakerState): BackendMetrics {
  breakerSources.set(backend, breakerState);
  const labels = { backend };
  return {
    cacheHits: cacheHits.cell(labels),
    cacheMisses: cacheMisses.cell(labels),
    staleServes: staleServes.cell(labels),
    coalescedWaits: coalescedWaits.cell(labels),
    cacheResyncs: cacheResyncs.cell(labels),
    calls: backendCalls.cell(labels),
    errors: backendErrors.cell(labels),
    latency: backendSeconds.cell(labels),
  };
}
