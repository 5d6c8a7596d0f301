/** How far back the counters reach, and how fine they are. */
export const WINDOW_SECONDS = 300;
/** The width of one point of the series GetStats returns (30 points over the window). */
export const SERIES_BUCKET_SECONDS = 10;

/**
 * Upper bounds of the latency histogram, in milliseconds; a last, open bucket takes the rest.
 * Percentiles are reported as the bound of the bucket they fall in: coarse, but a call costs two
 * integer increments and the memory is fixed.
 */
export const LATENCY_BOUNDS_MS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

// One row per second of the window: the second it holds, then the counters.
const CALLS = 0;
const ERRORS = 1;
const HITS = 2;
const MISSES = 3;
const LATENCY = 4;
const ROW = LATENCY + LATENCY_BUCKETS;

export interface WindowSnapshot {
  calls: number;
  errors: number;
  cacheHits: number;
  cacheMisses: number;
  p50Ms: number;
  p99Ms: number;
  /** Calls and errors per SERIES_BUCKET_SECONDS, oldest first. */
  callsSeries: number[];
  errorsSeries: number[];
}

/**
 * One back end's calls, errors, cache hits and misses and call latencies over the last five
 * minutes: a ring of one-second rows in two typed arrays, so recording is a clock read and a
 * few integer increments (the cache-hit path pays one), and the memory never grows.
 */
export class WindowedCounters {
  private readonly seconds = new Float64Array(WINDOW_SECONDS).fill(-1);
  private readonly counts = new Uint32Array(WINDOW_SECONDS * ROW);

  constructor(private readonly now: () => number = Date.now) {}

  hit(): void {
    this.hits(1);
  }

  hits(count: number): void {
    this.counts[this.row() + HITS]! += count;
  }

  miss(): void {
    this.counts[this.row() + MISSES]!++;
  }

  /** One back-end call that took `ms` milliseconds, failed or not. */
  call(ms: number, failed: boolean): void {
    const row = this.row();
    this.counts[row + CALLS]!++;
    if (failed) this.counts[row + ERRORS]!++;
    let bucket = 0;
    while (bucket < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[bucket]!) bucket++;
    this.counts[row + LATENCY + bucket]!++;
  }

  snapshot(): WindowSnapshot {
    const current = Math.floor(this.now() / 1000);
    const points = WINDOW_SECONDS / SERIES_BUCKET_SECONDS;
    const snapshot: WindowSnapshot = {
      calls: 0,
      errors: 0,
      cacheHits: 0,
      cacheMisses: 0,
      p50Ms: 0,
      p99Ms: 0,
      callsSeries: new Array<number>(points).fill(0),
      errorsSeries: new Array<number>(points).fill(0),
    };
    const latency = new Array<number>(LATENCY_BUCKETS).fill(0);
    for (let slot = 0; slot < WINDOW_SECONDS; slot++) {
      const age = current - this.seconds[slot]!;
      if (age < 0 || age >= WINDOW_SECONDS) continue;
      const row = slot * ROW;
      const point = points - 1 - Math.floor(age / SERIES_BUCKET_SECONDS);
      snapshot.calls += this.counts[row + CALLS]!;
      snapshot.errors += this.counts[row + ERRORS]!;
      snapshot.cacheHits += this.counts[row + HITS]!;
      snapshot.cacheMisses += this.counts[row + MISSES]!;
      snapshot.callsSeries[point]! += this.counts[row + CALLS]!;
      snapshot.errorsSeries[point]! += this.counts[row + ERRORS]!;
      for (let bucket = 0; bucket < LATENCY_BUCKETS; bucket++) latency[bucket]! += this.counts[row + LATENCY + bucket]!;
    }
    snapshot.p50Ms = percentile(latency, snapshot.calls, 0.5);
    snapshot.p99Ms = percentile(latency, snapshot.calls, 0.99);
    return snapshot;
  }

  /** The row of the current second, cleared when it last held an older one. */
  private row(): number {
    const second = Math.floor(this.now() / 1000);
    const slot = second % WINDOW_SECONDS;
    const row = slot * ROW;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.counts.fill(0, row, row + ROW);
    }
    return row;
  }
}

/**
 * The upper bound of the bucket holding the `quantile` call; for the open last bucket, the
 * largest bound (the histogram cannot say more).
 */
function percentile(latency: readonly number[], total: number, quantile: number): number {
  if (total === 0) return 0;
  const rank = Math.ceil(total * quantile);
  let seen = 0;
  for (let bucket = 0; bucket < latency.length; bucket++) {
    seen += latency[bucket]!;
    if (seen >= rank) return LATENCY_BOUNDS_MS[Math.min(bucket, LATENCY_BOUNDS_MS.length - 1)]!;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
}
