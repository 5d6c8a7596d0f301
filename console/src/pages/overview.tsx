import { useEffect, useState } from "preact/hooks";
import type { BackendDescription, GetStatsResponse } from "../../../gen/secretgate/v1/admin_service_pb.js";
import { Sparkline } from "../components/sparkline.js";
import { Badge, Notice } from "../components/status.js";
import { describeError } from "../errors.js";
import type { Clients } from "../session.js";

const REFRESH_MS = 5_000;

function percent(part: bigint, whole: bigint): string {
  return whole === 0n ? "–" : `${((Number(part) / Number(whole)) * 100).toFixed(1)} %`;
}

/** Every back end: what it is, how it is doing, and its last five minutes. */
export function Overview(props: { clients: Clients }) {
  const [backends, setBackends] = useState<BackendDescription[]>();
  const [stats, setStats] = useState<GetStatsResponse>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    let live = true;
    const load = async () => {
      try {
        const [described, counted] = await Promise.all([
          props.clients.admin.describeBackends({}),
          props.clients.admin.getStats({}),
        ]);
        if (!live) return;
        setBackends(described.backends);
        setStats(counted);
        setError(undefined);
      } catch (failure) {
        if (live) setError(describeError(failure));
      }
    };
    void load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [props.clients]);

  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <p class="help">
        Counters cover the last {stats?.windowSeconds ?? 300} seconds; the page refreshes every {REFRESH_MS / 1000}{" "}
        seconds.
      </p>
      {error && <Notice kind="error">{error}</Notice>}
      {!backends && !error && <p>Loading…</p>}
      <div class="cards">
        {backends?.map((backend) => {
          const counted = stats?.backends.find((entry) => entry.name === backend.name);
          const reads = counted ? counted.cacheHits + counted.cacheMisses : 0n;
          return (
            <article class="card backend" key={backend.name} aria-labelledby={`backend-${backend.name}`}>
              <h2 id={`backend-${backend.name}`}>
                {backend.name} {backend.isDefault && <span class="tag">default</span>}
              </h2>
              <dl class="facts">
                <dt>System</dt>
                <dd>{backend.system}</dd>
                <dt>Reachable</dt>
                <dd>
                  <Badge good={backend.reachable}>{backend.reachable ? "reachable" : "not reachable"}</Badge>
                </dd>
                <dt>Breaker</dt>
                <dd>
                  <Badge good={backend.breakerState === "closed"}>{backend.breakerState}</Badge>
                </dd>
                <dt>Access mode</dt>
                <dd>{backend.accessMode}</dd>
                <dt>Cache entries</dt>
                <dd>{String(backend.cacheEntries)}</dd>
                <dt>Cache hit ratio</dt>
                <dd>{counted ? percent(counted.cacheHits, reads) : "–"}</dd>
                <dt>Error rate</dt>
                <dd>{counted ? `${percent(counted.errors, counted.calls)} of ${counted.calls} calls` : "–"}</dd>
                <dt>Latency p50 / p99</dt>
                <dd>{counted && counted.calls > 0n ? `≤ ${counted.p50Ms} ms / ≤ ${counted.p99Ms} ms` : "–"}</dd>
              </dl>
              {counted && (
                <p class="chart-caption" aria-hidden="true">
                  Back-end calls per {stats!.bucketSeconds} s, last {stats!.windowSeconds / 60} min{" "}
                  <span class="legend-error">(errors in red)</span>
                </p>
              )}
              {counted && (
                <Sparkline
                  values={counted.callsSeries.map(Number)}
                  errors={counted.errorsSeries.map(Number)}
                  label={`${backend.name}: ${counted.calls} back-end calls and ${counted.errors} errors over the last ${stats!.windowSeconds} seconds, in ${stats!.bucketSeconds}-second steps`}
                />
              )}
            </article>
          );
        })}
      </div>
    </section>
  );
}
