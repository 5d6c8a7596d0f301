import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type {
  DriverCall,
  DriverCapabilities,
  DriverDeleteResult,
  DriverWrite,
  DriverWriteResult,
  SecretDriver,
  SecretMetadata,
  SecretValue,
} from "../drivers/driver.js";
import { type BackendMetrics, backendMetrics } from "../metrics/metrics.js";
import type { Attempts, BackendOperation, Tracing } from "../tracing/tracing.js";
import { type CacheEntry, SecretCache } from "./cache/secret-cache.js";
import { canonicalJson } from "./canonical-json.js";
import { Code, failedPrecondition, ServiceError, statusName } from "./errors.js";
import { type BreakerState, CircuitBreaker } from "./resilience/circuit-breaker.js";
import { ConcurrencyLimit } from "./resilience/concurrency-limit.js";
import { type BackoffSettings, backoffDelayMs, RETRYABLE_CODES, RetryBudget } from "./resilience/retry.js";
import { WindowedCounters } from "./stats/windowed-counters.js";

export interface CachedDriverSettings {
  /** How long a value is fresh, in milliseconds. */
  ttlMs: number;
  /** How long a "not found" is remembered, in milliseconds. */
  negativeTtlMs: number;
  /** How long past expiry a value may still be served when the back end fails, in milliseconds (0: never). */
  maxStalenessMs: number;
  /** Share of the TTL at its end in which a read triggers a background refresh (0.1 = last 10 %). */
  refreshAheadFraction: number;
  /** Always read from the back end (the cache still coalesces concurrent reads and serves stale on error). */
  bypassCache: boolean;
  maxEntries: number;
  maxBytes: number;
  retry: BackoffSettings;
  /** Retries may add at most this share of extra calls (0.2 = 20 %). */
  retryBudgetRatio: number;
  maxConcurrentCalls: number;
  breakerFailureThreshold: number;
  breakerOpenMs: number;
}

/** A read's value with where it came from. */
export interface CachedRead {
  value: SecretValue | undefined;
  fromCache: boolean;
  stale: boolean;
  fetchedAt: number;
}

export interface ReadOptions {
  bypassCache: boolean;
  /** Refresh from the back end only if the cached version is still this one (the caller's copy was rejected). */
  refreshIfVersion?: string;
}

export interface CachedDriverCounts {
  hits: number;
  misses: number;
  staleServed: number;
  coalescedWaits: number;
  backendCalls: number;
  backendErrors: number;
  retries: number;
}

interface Fetched {
  value: SecretValue | undefined;
  fetchedAt: number;
}

/** When changes were last heard from the other replicas (epoch ms), and how long an entry stays fresh without them. */
export interface FreshnessBound {
  since: number;
  ttlMs: number;
}

/**
 * Who hears of every Write and Delete: the name, where it lives (see `locationOf`), and the version a write
 * created.
 */
export type ChangeListener = (name: string, location: string, call: DriverCall, version?: string) => void;

// Availability failures: they open the breaker, and a cached value may stand in for them.
const AVAILABILITY_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.ResourceExhausted,
  Code.DeadlineExceeded,
]);

/**
 * Everything between the service core and a driver, applied once for every back end: the
 * cache (TTL, LRU, negative entries, refresh-ahead with version checks, bounded stale-on-error),
 * singleflight coalescing, and resilience (deadline, retries with full-jitter backoff under a
 * retry budget, a concurrency limit and a circuit breaker).
 */
export class CachedDriver {
  readonly stats: CachedDriverCounts = {
    hits: 0,
    misses: 0,
    staleServed: 0,
    coalescedWaits: 0,
    backendCalls: 0,
    backendErrors: 0,
    retries: 0,
  };
  /** The last five minutes of the same, for GetStats. */
  readonly window = new WindowedCounters();
  private readonly cache: SecretCache;
  private readonly inflight = new Map<string, Promise<Fetched>>();
  private readonly breaker: CircuitBreaker;
  private readonly limit: ConcurrencyLimit;
  private readonly budget: RetryBudget;
  private readonly metrics: BackendMetrics;
  private changeListener: ChangeListener | undefined;
  /** Asked before every Write and Delete reaches the driver: it throws to refuse the change (see `guardChanges`). */
  private changeGuard: (() => void) | undefined;
  /** Set while other replicas' changes go unheard: entries are fresh for at most this long (see `boundFreshness`). */
  private unheard: FreshnessBound | undefined;
  /** The driver's location key for the configured settings: a team that resolves to it shares their cache entries. */
  private readonly defaultLocationKey: string;

  constructor(
    readonly driver: SecretDriver,
    /** What the driver can do, as its back end's definition declares. */
    readonly capabilities: DriverCapabilities,
    readonly source: string,
    private readonly settings: CachedDriverSettings,
    private readonly logger: Logger,
    onBreakerChange: (state: BreakerState) => void = () => {},
    /** Present only while tracing is on: each back-end call is then a span. */
    private readonly tracing?: Tracing,
  ) {
    this.cache = new SecretCache({ maxEntries: settings.maxEntries, maxBytes: settings.maxBytes });
    this.breaker = new CircuitBreaker(settings.breakerFailureThreshold, settings.breakerOpenMs, (state) => {
      this.logger.warn({ backend: source, breaker: state }, "circuit breaker changed state");
      onBreakerChange(state);
    });
    this.limit = new ConcurrencyLimit(settings.maxConcurrentCalls);
    this.budget = new RetryBudget(settings.retryBudgetRatio, 10);
    this.metrics = backendMetrics(source, () => this.breaker.state);
    this.defaultLocationKey = this.locationKey({});
  }

  /**
   * Tells `listener` about every Write and Delete (attempted ones too), e.g. to notify other
   * replicas; `version` is the version a successful write created.
   */
  onChange(listener: ChangeListener): void {
    this.changeListener = listener;
  }

  /**
   * Asks `guard` before every Write and Delete; a change it refuses (by throwing) is never attempted, so nothing is
   * evicted.
   */
  guardChanges(guard: () => void): void {
    this.changeGuard = guard;
  }

  /**
   * While this replica cannot hear other replicas' changes (their notices are lost), an entry is
   * fresh for at most `ttlMs` after it was fetched or after `since` (when changes were last
   * heard), whichever is later; then it is read again from the back end, or served marked stale
   * if that fails. `undefined` lifts the bound.
   */
  boundFreshness(bound: FreshnessBound | undefined): void {
    this.unheard = bound;
  }

  get breakerState(): BreakerState {
    return this.breaker.state;
  }

  get cacheSize(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cache.byteSize };
  }

  /** A cached read: fresh entries are served, misses and expired entries coalesce into one back-end call. */
  async read(name: string, call: DriverCall, options: ReadOptions): Promise<CachedRead> {
    return this.readCached(name, call, options) ?? this.readThrough(name, call, options);
  }

  /**
   * The fresh cached answer, synchronously, or undefined when the back end must be asked (a
   * miss, an expired entry, a rejected version, or bypass). Cache hits are the hot path: no
   * promise, no await.
   */
  readCached(name: string, call: DriverCall, options: ReadOptions): CachedRead | undefined {
    return this.readCachedMany([name], call.team, [options])[0];
  }

  /**
   * `readCached` for a batch under one team's settings: the fresh entries among `names` are
   * opened together (one cipher call for all of them), so a Read of many cached names costs
   * little more per name than a map lookup. It needs no DriverCall: nothing here reaches the
   * back end but a background refresh, which makes its own.
   */
  readCachedMany(
    names: readonly string[],
    team: Readonly<Record<string, unknown>>,
    options: readonly ReadOptions[],
  ): Array<CachedRead | undefined> {
    const now = Date.now();
    // One location for the whole batch: the team's is worked out once, not per name.
    const location = this.locationOf(team);
    if (names.length === 1) {
      // A Read of one name, the usual one: no arrays but the answer's.
      const entry = this.freshEntry(keyIn(location, names[0]!), names[0]!, team, options[0]!, now);
      if (!entry) return [undefined];
      this.countHits(1);
      return [{ value: this.cache.open(entry), fromCache: true, stale: false, fetchedAt: entry.fetchedAt }];
    }
    const hits: Array<CacheEntry | undefined> = names.map((name, index) =>
      this.freshEntry(keyIn(location, name), name, team, options[index]!, now),
    );
    const found = hits.filter((entry): entry is CacheEntry => entry !== undefined);
    this.countHits(found.length);
    const values = found.length > 0 ? this.cache.openMany(found) : [];
    let next = 0;
    return hits.map(
      (entry) => entry && { value: values[next++], fromCache: true, stale: false, fetchedAt: entry.fetchedAt },
    );
  }

  /** The entry to answer from, if it is fresh and acceptable; starts refresh-ahead (the caller counts the hit). */
  private freshEntry(
    key: string,
    name: string,
    team: Readonly<Record<string, unknown>>,
    options: ReadOptions,
    now: number,
  ): CacheEntry | undefined {
    if (options.bypassCache || this.settings.bypassCache) return undefined;
    const entry = this.cache.get(key);
    if (!entry || now >= entry.expiresAt) return undefined;
    if (this.unheard && now >= Math.max(entry.fetchedAt, this.unheard.since) + this.unheard.ttlMs) return undefined;
    if (options.refreshIfVersion !== undefined && !entry.negative && entry.version === options.refreshIfVersion)
      return undefined;
    if (now >= entry.refreshAt && !entry.refreshing) this.refreshInBackground(key, name, team);
    return entry;
  }

  /** Counts a batch's hits at once: the window's clock and the metric are read once per Read, not once per name. */
  private countHits(count: number): void {
    if (count === 0) return;
    this.stats.hits += count;
    this.window.hits(count);
    this.metrics.cacheHits.inc(count);
  }

  /** Asks the back end (coalesced), serving a stale entry when it fails within max staleness. */
  async readThrough(name: string, call: DriverCall, options: ReadOptions): Promise<CachedRead> {
    const key = this.cacheKey(name, call.team);
    this.stats.misses++;
    this.window.miss();
    this.metrics.cacheMisses.inc();
    try {
      const { value, fetchedAt } = await this.fetch(key, name, call);
      return { value, fromCache: false, stale: false, fetchedAt };
    } catch (error) {
      const failure = this.toServiceError(error, call);
      // A caller that bypasses the cache asked for the back end's answer, not a stand-in.
      const previous = options.bypassCache ? undefined : this.cache.get(key);
      if (
        previous &&
        !previous.negative &&
        AVAILABILITY_CODES.has(failure.code) &&
        Date.now() < previous.expiresAt + this.settings.maxStalenessMs
      ) {
        this.stats.staleServed++;
        this.metrics.staleServes.inc();
        this.logger.warn(
          { backend: this.source, name, code: statusName(failure.code) },
          "back end failed; serving a stale cached value",
        );
        return { value: this.cache.open(previous), fromCache: true, stale: true, fetchedAt: previous.fetchedAt };
      }
      throw failure;
    }
  }

  /**
   * The back end's answer now, through the breaker, retries, concurrency limit and deadline but
   * past the cache: not served from it, not stored in it, and not joined to a read already under
   * way, which may have begun before a write another replica made. For a migration, whose copy
   * must compare what the back ends hold at this moment.
   */
  readUncached(name: string, call: DriverCall): Promise<SecretValue | undefined> {
    return this.call("read", name, () => this.driver.read(name, call), call);
  }

  async write(request: DriverWrite, call: DriverCall): Promise<DriverWriteResult> {
    this.changeGuard?.();
    let attempted = false;
    let written: DriverWriteResult | undefined;
    try {
      written = await this.call(
        "write",
        request.name,
        () => {
          attempted = true;
          return this.driver.write(request, call);
        },
        call,
      );
      return written;
    } finally {
      if (attempted) this.changed(request.name, call, written !== undefined, written?.version);
    }
  }

  async delete(name: string, force: boolean, call: DriverCall): Promise<DriverDeleteResult | undefined> {
    this.changeGuard?.();
    let attempted = false;
    let succeeded = false;
    try {
      const deleted = await this.call(
        "delete",
        name,
        () => {
          attempted = true;
          return this.driver.delete(name, { force }, call);
        },
        call,
      );
      succeeded = true;
      return deleted;
    } finally {
      if (attempted) this.changed(name, call, succeeded);
    }
  }

  /**
   * After a Write or Delete reached the driver: a change that succeeded drops the cached entry; one
   * that failed may still have reached the back end, so its entry is no longer fresh, but may stand
   * in (marked stale) while the back end keeps failing. A change refused before it reached the
   * driver (an open breaker, a guard) changed nothing and keeps the entry. Listeners hear of both.
   */
  private changed(name: string, call: DriverCall, succeeded: boolean, version?: string): void {
    const location = this.locationOf(call.team);
    const key = keyIn(location, name);
    if (succeeded) this.evict(key);
    else this.expire(key);
    this.changeListener?.(name, location, call, version);
  }

  /**
   * Takes back the one version `written` made when it created `name` (see the driver's
   * `removeWrittenVersion`); false when the back end no longer holds it as written. Evicts and
   * notifies like a delete, whatever the outcome.
   */
  async removeWrittenVersion(name: string, written: DriverWriteResult, call: DriverCall): Promise<boolean> {
    const { driver } = this;
    if (!this.capabilities.versionRemoval || !driver.removeWrittenVersion)
      throw failedPrecondition(`${this.source} cannot remove a single version`);
    try {
      return await this.call("delete", name, () => driver.removeWrittenVersion!(name, written, call), call);
    } finally {
      const location = this.locationOf(call.team);
      this.evict(keyIn(location, name));
      this.changeListener?.(name, location, call);
    }
  }

  /**
   * A secret's description and tags as the back end holds them now (undefined when it holds no
   * such secret), for copying a secret with its metadata. Never cached: reads never need
   * metadata, and a copy must compare against what the back end holds, not what it held.
   */
  async describe(name: string, call: DriverCall): Promise<SecretMetadata | undefined> {
    const { driver } = this;
    if (!this.capabilities.metadata || !driver.describe)
      throw failedPrecondition(`${this.source} keeps no description or tags`);
    return this.call("describe", name, () => driver.describe!(name, call), call);
  }

  /**
   * Changes an existing secret's description and tags in place, without a new version, where the
   * driver can (`updateMetadata`): a migration brings a destination's metadata over before it
   * writes anything. Metadata is never cached, so nothing is evicted.
   */
  async updateMetadata(name: string, metadata: SecretMetadata, call: DriverCall): Promise<void> {
    const { driver } = this;
    if (!driver.updateMetadata)
      throw failedPrecondition(`${this.source} cannot change an existing secret's description and tags`);
    await this.call("update_metadata", name, () => driver.updateMetadata!(name, metadata, call), call);
  }

  async list(call: DriverCall): Promise<string[]> {
    if (!this.capabilities.list || !this.driver.list) return [];
    return this.call("list", undefined, () => this.driver.list!(call), call);
  }

  /**
   * Drops one name at one location (see `locationOf`) — e.g. on a change notice from another
   * replica. When the notice names the version the change created and this replica already holds
   * exactly that version (it read the name after the change, before the notice arrived), the
   * entry is the new value and stays.
   */
  invalidate(name: string, location: string, version?: string): void {
    const key = keyIn(location, name);
    const entry = this.cache.peek(key);
    if (version && entry && !entry.negative && entry.version === version && !this.inflight.has(key)) return;
    this.evict(key);
  }

  /** Drops every entry (e.g. after missing change notices). */
  clear(): void {
    this.cache.clear();
    this.inflight.clear();
    this.metrics.cacheResyncs.inc();
  }

  /** Turns any failure into a ServiceError with a portable code and a value-free message. */
  toServiceError(error: unknown, call?: DriverCall): ServiceError {
    if (error instanceof ServiceError) return error;
    if (
      call?.signal.aborted ||
      (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError"))
    ) {
      return new ServiceError(Code.DeadlineExceeded, `${this.source} did not answer before the deadline`);
    }
    const { code, message } = this.driver.classifyError(error);
    return new ServiceError(code, message);
  }

  /** Forgets a key: its entry, and any read under way for it (whose answer may predate the change). */
  private evict(key: string): void {
    this.cache.delete(key);
    this.inflight.delete(key);
  }

  /**
   * Ends a key's freshness now, keeping the entry to stand in while the back end fails; forgets any read under way
   * for it.
   */
  private expire(key: string): void {
    const entry = this.cache.peek(key);
    const now = Date.now();
    if (entry && entry.expiresAt > now) entry.expiresAt = now;
    this.inflight.delete(key);
  }

  private cacheKey(name: string, team: Readonly<Record<string, unknown>>): string {
    return keyIn(this.locationOf(team), name);
  }

  /**
   * Where a team's secrets live in the back end, as part of a cache key: "" for the configured
   * default (and for any team that resolves to it), else a digest of the driver's location key.
   * Change notices carry it, so another replica evicts the right entry without being told the
   * settings, which a call may have sent itself (team_settings) and which may hold credentials.
   */
  locationOf(team: Readonly<Record<string, unknown>>): string {
    if (Object.keys(team).length === 0) return "";
    const key = this.locationKey(team);
    return key === this.defaultLocationKey
      ? ""
      : createHash("sha256").update(key).digest("base64url").slice(0, LOCATION_DIGEST_CHARS);
  }

  private locationKey(team: Readonly<Record<string, unknown>>): string {
    return this.driver.locationKey ? this.driver.locationKey(team) : canonicalJson(team);
  }

  /** One back-end read per key at a time; concurrent callers share its outcome. */
  private fetch(key: string, name: string, call: DriverCall): Promise<Fetched> {
    const running = this.inflight.get(key);
    if (running) {
      this.stats.coalescedWaits++;
      this.metrics.coalescedWaits.inc();
      return running;
    }
    const flight: Promise<Fetched> = this.call("read", name, () => this.driver.read(name, call), call)
      .then((value) => {
        // Evicted while it ran (a write, here or on another replica): the answer may predate
        // the change, so it is returned to its callers but not cached.
        const current = this.inflight.get(key) === flight;
        return { value, fetchedAt: current ? this.store(key, value).fetchedAt : Date.now() };
      })
      .finally(() => {
        if (this.inflight.get(key) === flight) this.inflight.delete(key);
      });
    this.inflight.set(key, flight);
    return flight;
  }

  private store(key: string, value: SecretValue | undefined): CacheEntry {
    const now = Date.now();
    const ttlMs = value === undefined ? this.settings.negativeTtlMs : this.settings.ttlMs;
    return this.cache.set(key, value, { now, ttlMs, refreshAt: this.refreshAt(now, ttlMs) });
  }

  /** Somewhere in the last `refreshAheadFraction` of the TTL, jittered so a fleet does not refresh in step. */
  private refreshAt(now: number, ttlMs: number): number {
    const window = ttlMs * this.settings.refreshAheadFraction;
    return now + ttlMs - window * (0.5 + Math.random() * 0.5);
  }

  /**
   * Refreshes a hot entry before it expires so readers never wait. Where the driver has cheap
   * version metadata, an unchanged version only extends the entry; the value is fetched only
   * when it changed.
   */
  private refreshInBackground(key: string, name: string, team: Readonly<Record<string, unknown>>): void {
    const entry = this.cache.get(key);
    if (!entry) return;
    entry.refreshing = true;
    const deadlineMs = this.settings.retry.maxDelayMs * 4 + 10_000;
    const call: DriverCall = { team, signal: AbortSignal.timeout(deadlineMs), deadline: Date.now() + deadlineMs };
    const refresh = async () => {
      if (this.driver.currentVersion && !entry.negative) {
        const version = await this.call("version", name, () => this.driver.currentVersion!(name, call), call);
        if (version === entry.version) {
          const now = Date.now();
          entry.fetchedAt = now;
          entry.expiresAt = now + this.settings.ttlMs;
          entry.refreshAt = this.refreshAt(now, this.settings.ttlMs);
          return;
        }
      }
      await this.fetch(key, name, call);
    };
    (this.tracing ? this.tracing.detached("secretgate refresh", refresh) : refresh())
      .catch((error: unknown) => {
        const failure = this.toServiceError(error, call);
        this.logger.debug({ backend: this.source, name, code: statusName(failure.code) }, "background refresh failed");
      })
      .finally(() => {
        entry.refreshing = false;
      });
  }

  /** One logical back-end call (see `attempt`), in a span of its own while tracing is on. */
  private call<T>(
    operation: BackendOperation,
    name: string | undefined,
    run: () => Promise<T>,
    call: DriverCall,
  ): Promise<T> {
    if (this.tracing)
      return this.tracing.backendCall(this.source, operation, name, (attempts) => this.attempt(run, call, attempts));
    return this.attempt(run, call);
  }

  /**
   * One logical back-end call: bounded by the caller's deadline, through the concurrency limit
   * and the breaker, retried with full-jitter backoff on retryable failures while the retry
   * budget allows (unless the SDK already retries).
   */
  private async attempt<T>(run: () => Promise<T>, call: DriverCall, attempts?: Attempts): Promise<T> {
    const maxAttempts = this.capabilities.sdkRetries ? 1 : this.settings.retry.maxAttempts;
    this.budget.recordAttempt();
    for (let attempt = 1; ; attempt++) {
      if (!this.breaker.allow()) {
        throw new ServiceError(
          Code.Unavailable,
          `${this.source} keeps failing; calls to it are paused briefly (circuit breaker open)`,
        );
      }
      this.stats.backendCalls++;
      this.metrics.calls.inc();
      let failure: ServiceError;
      let retryAfterMs: number | undefined;
      const started = performance.now();
      try {
        const result = await this.limit.run(run, call.signal);
        const ms = performance.now() - started;
        this.metrics.latency.observe(ms / 1000);
        this.window.call(ms, false);
        this.breaker.recordSuccess();
        return result;
      } catch (error) {
        const ms = performance.now() - started;
        this.metrics.latency.observe(ms / 1000);
        this.window.call(ms, true);
        this.stats.backendErrors++;
        this.metrics.errors.inc();
        failure = this.toServiceError(error, call);
        retryAfterMs = error instanceof ServiceError ? undefined : this.driver.classifyError(error).retryAfterMs;
      }
      // A definite answer (not found, denied, invalid) proves the back end is up.
      if (AVAILABILITY_CODES.has(failure.code)) this.breaker.recordFailure();
      else this.breaker.recordSuccess();
      if (
        !RETRYABLE_CODES.has(failure.code) ||
        call.signal.aborted ||
        attempt >= maxAttempts ||
        !this.budget.tryRetry()
      )
        throw failure;
      const delay = backoffDelayMs(this.settings.retry, attempt - 1, retryAfterMs);
      this.stats.retries++;
      if (attempts) attempts.retries++;
      try {
        await sleep(delay, undefined, { signal: call.signal });
      } catch {
        throw failure;
      }
    }
  }
}

/** 132 bits of SHA-256: two locations of one deployment never share a digest. */
const LOCATION_DIGEST_CHARS = 22;

/**
 * A cache key: the name alone at the default location, else location and name. Names never hold
 * control characters (validateSecretName), so "\0" cannot be forged by one.
 */
function keyIn(location: string, name: string): string {
  return location === "" ? name : `${location}\u0000${name}`;
}
