import type { SecretResult } from "../../gen/secretgate/v1/secret_service_pb.js";
import { type Env, envValue } from "../config/env.js";
import type { ServedEnvironment } from "../config/served-environment.js";
import type { DriverCall } from "../drivers/driver.js";
import type { CallScope } from "./access.js";
import { addressOf } from "./backend-reference.js";
import type { Backend, Backends } from "./backends.js";
import type { CachedRead, ReadOptions } from "./cached-driver.js";
import { Code, failedPrecondition, ServiceError } from "./errors.js";
import { stripEnvReference, validateSecretName } from "./names.js";
import { failedResult, foundResult, missingResult, NOT_HOSTED, NOT_IN_BACKEND } from "./results.js";
import type { Placement } from "./routes.js";

/** What applies to every name of a batch (the team and its settings are the scope's). */
export interface ReadParameters {
  virtualKey: boolean;
  bypassCache: boolean;
  refreshIfVersion: Readonly<Record<string, string>>;
  /** The request's `backend` field, already checked ("" for none). */
  backend: string;
  /**
   * `backend` was set by the service (ListHosted reads each back end's names there), not asked
   * for by the caller: the service's environment may still answer, as it does a routed read.
   */
  backendByService?: boolean;
}

/** A name of a batch that a back end answers. */
interface PlacedRead {
  index: number;
  /** As requested (without `os.environ/`; with its reference, if any). */
  requested: string;
  /** Without its reference. */
  name: string;
  /** As stored in the placement's first back end. */
  resolvedName: string;
  options: ReadOptions;
  placement: Placement<Backend>;
  /** Addressed to its back end by a reference or the `backend` field: that back end answers, or nobody. */
  explicit: boolean;
}

/** Failures after which a route's next back end is asked (a breaker that is open answers UNAVAILABLE). */
const FALLBACK_CODES: ReadonlySet<Code> = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted]);

/**
 * Resolves a batch of names, each where its reference, team or route places it; a failure
 * becomes its item's error, never the batch's. First every name is checked, authorized and
 * placed (refusals and environment answers are final), then the fresh cache entries are opened
 * together, one batch per back end; only the rest wait for a back end. A batch answered without
 * one comes back synchronously: cache hits are the hot path. A route's fallback back ends are
 * asked in order when the one before misses or cannot be reached.
 */
export class BatchReader {
  constructor(
    private readonly backends: Backends,
    private readonly served: ServedEnvironment,
    private readonly env: Env,
  ) {}

  read(
    names: readonly string[],
    fieldOf: (index: number) => string,
    scope: CallScope,
    request: ReadParameters,
  ): SecretResult[] | Promise<SecretResult[]> {
    const results = new Array<SecretResult>(names.length);
    const fromBackends: PlacedRead[] = [];
    const plainOptions: ReadOptions = { bypassCache: request.bypassCache };
    const refreshing = hasKeys(request.refreshIfVersion);
    for (let index = 0; index < names.length; index++) {
      const answered = this.plan(
        index,
        stripEnvReference(names[index]!),
        fieldOf(index),
        scope,
        request,
        plainOptions,
        refreshing,
        fromBackends,
      );
      if (answered) results[index] = answered;
    }
    if (fromBackends.length === 0) return results;

    const cached = this.cachedReads(fromBackends, scope);
    let pending: Array<Promise<void>> | undefined;
    for (let position = 0; position < fromBackends.length; position++) {
      const item = fromBackends[position]!;
      const hit = cached[position];
      const hasFallback = item.placement.fallback.length > 0;
      if (hit && (hit.value !== undefined || !hasFallback)) {
        results[item.index] = this.answer(item, hit, request.virtualKey);
        continue;
      }
      const settled = hasFallback
        ? this.readAlong(item, scope, request.virtualKey, hit)
        : this.readThrough(item, scope, request.virtualKey);
      pending ??= [];
      pending.push(
        settled.then((result) => {
          results[item.index] = result;
        }),
      );
    }
    return pending ? Promise.all(pending).then(() => results) : results;
  }

  /**
   * Where one name is read from (added to `fromBackends`), or its final answer (a refusal, or
   * "not hosted here"). Checked before anything is fetched: a denied name never reaches a back end.
   */
  private plan(
    index: number,
    requested: string,
    field: string,
    scope: CallScope,
    request: ReadParameters,
    plainOptions: ReadOptions,
    refreshing: boolean,
    fromBackends: PlacedRead[],
  ): SecretResult | undefined {
    try {
      const addressed = addressOf(requested, field, request.backend, this.backends.has);
      const name = addressed?.name ?? requested;
      validateSecretName(name, field);
      const placement = scope.place(addressed?.backend, name, request.virtualKey);
      const target = placement.backend;
      const resolvedName = scope.storedName(target, name, request.virtualKey, field);
      scope.requireRead(resolvedName);
      const explicit = addressed !== undefined && request.backendByService !== true;
      const route = target.policy.routeRead(name, request.virtualKey);
      if (route.from === "environment")
        return this.notHosted(requested, name, resolvedName, request.virtualKey, explicit, route.reason);
      // Own keys only: a name such as "constructor" must not find Object.prototype's.
      const refreshIfVersion =
        refreshing && Object.hasOwn(request.refreshIfVersion, requested)
          ? request.refreshIfVersion[requested]
          : undefined;
      const options =
        refreshIfVersion === undefined ? plainOptions : { bypassCache: request.bypassCache, refreshIfVersion };
      fromBackends.push({ index, requested, name, resolvedName, options, placement, explicit });
      return undefined;
    } catch (error) {
      return this.failure(requested, error, this.backends.default);
    }
  }

  /**
   * The fresh cache entries of the batch, opened together per back end (one back end, the usual case, without
   * grouping).
   */
  private cachedReads(items: readonly PlacedRead[], scope: CallScope): Array<CachedRead | undefined> {
    const first = items[0]!.placement.backend;
    let single = true;
    for (let position = 1; position < items.length && single; position++)
      single = items[position]!.placement.backend === first;
    if (single) return this.cachedOn(first, items, scope);
    const cached = new Array<CachedRead | undefined>(items.length);
    for (const backend of new Set(items.map((item) => item.placement.backend))) {
      const positions = items.flatMap((item, position) => (item.placement.backend === backend ? [position] : []));
      const hits = this.cachedOn(
        backend,
        positions.map((position) => items[position]!),
        scope,
      );
      positions.forEach((position, at) => {
        cached[position] = hits[at];
      });
    }
    return cached;
  }

  private cachedOn(target: Backend, items: readonly PlacedRead[], scope: CallScope): Array<CachedRead | undefined> {
    // With primary_secret_name every name is a field of one cached secret: read through below.
    if (target.settings.primary_secret_name !== undefined) return [];
    try {
      return target.driver.readCachedMany(
        items.map((item) => item.resolvedName),
        scope.settingsOn(target),
        items.map((item) => item.options),
      );
    } catch {
      // Asking the back end reports the same failure per item.
      return [];
    }
  }

  /** A name with one back end to ask: its answer, a miss or its failure. */
  private readThrough(item: PlacedRead, scope: CallScope, virtualKey: boolean): Promise<SecretResult> {
    const target = item.placement.backend;
    const call = scope.driverCall(target);
    return this.fetch(target, item.resolvedName, call, item.options, false).then(
      (read) => this.answer(item, read, virtualKey),
      (error: unknown) => this.failure(item.requested, error, target, call),
    );
  }

  /**
   * A name placed on a route with fallbacks: each back end in turn until one holds it. A miss
   * or an availability failure moves on; any other failure is the answer. Each fallback applies
   * its own policy (hosted keys, prefix) and the caller's rules; one that may not serve the name
   * is passed over.
   */
  private async readAlong(
    item: PlacedRead,
    scope: CallScope,
    virtualKey: boolean,
    primaryRead: CachedRead | undefined,
  ): Promise<SecretResult> {
    const { placement } = item;
    const missedIn: string[] = [];
    const failures: ServiceError[] = [];
    for (let step = 0; step <= placement.fallback.length; step++) {
      const target = step === 0 ? placement.backend : placement.fallback[step - 1]!;
      const resolvedName = step === 0 ? item.resolvedName : this.fallbackName(target, item.name, scope, virtualKey);
      if (resolvedName === undefined) continue;
      if (step > 0) scope.reach(target);
      const call = scope.driverCall(target);
      let read: CachedRead;
      try {
        read =
          step === 0 && primaryRead ? primaryRead : await this.fetch(target, resolvedName, call, item.options, true);
      } catch (error) {
        const failure = target.driver.toServiceError(error, call);
        const named = new ServiceError(
          failure.code,
          step === 0 ? failure.message : `${target.name} (fallback): ${failure.message}`,
        );
        if (!FALLBACK_CODES.has(failure.code)) return failedResult(item.requested, named.code, named.message);
        failures.push(named);
        continue;
      }
      if (read.value !== undefined) return foundResult(item.requested, resolvedName, target.name, read, step > 0);
      missedIn.push(target.name);
    }
    const served = this.servedValue(item.name, virtualKey, false);
    if (served !== undefined) return this.fromEnv(item.requested, item.resolvedName, served);
    // A back end that could not be asked may hold the name: that is the answer, not a miss.
    const [unreachable] = failures;
    if (unreachable) {
      const also = [
        ...failures.slice(1).map((failure) => failure.message),
        ...(missedIn.length > 0 ? [`not found in ${missedIn.join(", ")}`] : []),
      ];
      return failedResult(item.requested, unreachable.code, [unreachable.message, ...also].join("; "));
    }
    return missingResult(
      item.requested,
      item.resolvedName,
      NOT_IN_BACKEND,
      `${JSON.stringify(item.resolvedName)} was not found in ${missedIn.join(", nor in ")}`,
    );
  }

  /**
   * The name as a fallback stores it, when the caller may read it there and the fallback hosts it; else undefined
   * (passed over).
   */
  private fallbackName(target: Backend, name: string, scope: CallScope, virtualKey: boolean): string | undefined {
    if (!scope.canReach(target.name)) return undefined;
    let resolvedName: string;
    try {
      resolvedName = scope.storedName(target, name, virtualKey);
    } catch {
      return undefined;
    }
    if (!scope.mayRead(resolvedName)) return undefined;
    return target.policy.routeRead(name, virtualKey).from === "backend" ? resolvedName : undefined;
  }

  /** One back end's read: cached or fetched, or with primary_secret_name a field of that JSON secret. */
  private fetch(
    target: Backend,
    name: string,
    call: DriverCall,
    options: ReadOptions,
    cacheFirst: boolean,
  ): Promise<CachedRead> {
    const primary = target.settings.primary_secret_name;
    if (primary !== undefined) return this.readPrimaryField(target, primary, name, call, options);
    return cacheFirst ? target.driver.read(name, call, options) : target.driver.readThrough(name, call, options);
  }

  /**
   * With primary_secret_name (docs/api.md, "How a read is resolved (the same for every back end)", step 3): one
   * field of the JSON secret, which is cached as one entry.
   */
  private async readPrimaryField(
    target: Backend,
    primary: string,
    name: string,
    call: DriverCall,
    options: ReadOptions,
  ): Promise<CachedRead> {
    const read = await target.driver.read(primary, call, options);
    const document = read.value;
    if (!document) return read;
    let fields: unknown;
    try {
      fields = JSON.parse(document.text ?? Buffer.from(document.binary ?? []).toString("utf8"));
    } catch {
      fields = undefined;
    }
    if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
      throw failedPrecondition(`primary_secret_name ${JSON.stringify(primary)} does not hold a JSON object`);
    }
    const field = Object.hasOwn(fields, name) ? (fields as Record<string, unknown>)[name] : undefined;
    if (field === undefined || field === null) return { ...read, value: undefined };
    return {
      ...read,
      value: { text: typeof field === "string" ? field : JSON.stringify(field), version: document.version },
    };
  }

  /**
   * The first back end's answer; a miss is the back end's answer, and the service's environment answers only names
   * the operator serves.
   */
  private answer(item: PlacedRead, read: CachedRead, virtualKey: boolean): SecretResult {
    const target = item.placement.backend;
    if (read.value) return foundResult(item.requested, item.resolvedName, target.name, read, false);
    const served = this.servedValue(item.name, virtualKey, item.explicit);
    if (served !== undefined) return this.fromEnv(item.requested, item.resolvedName, served);
    return missingResult(
      item.requested,
      item.resolvedName,
      NOT_IN_BACKEND,
      `${JSON.stringify(item.resolvedName)} was not found in ${target.name}`,
    );
  }

  /**
   * Where LiteLLM reads its own process environment (docs/security.md, "The service's own environment"): the caller
   * reads its own,
   * unless the operator serves the name from the service's environment.
   */
  private notHosted(
    requested: string,
    name: string,
    resolvedName: string,
    virtualKey: boolean,
    explicit: boolean,
    reason: string,
  ): SecretResult {
    const served = this.servedValue(name, virtualKey, explicit);
    if (served !== undefined) return this.fromEnv(requested, resolvedName, served);
    return missingResult(
      requested,
      resolvedName,
      NOT_HOSTED,
      `${JSON.stringify(name)} is not hosted here: read it from your own environment (${reason})`,
    );
  }

  /**
   * The service's own variable `name` when `secretgate.environment.serve` serves it. Virtual
   * keys never come from it, nor does a name addressed to one back end (which answers alone).
   */
  private servedValue(name: string, virtualKey: boolean, explicit: boolean): string | undefined {
    if (virtualKey || explicit || !this.served.serves(name)) return undefined;
    return envValue(this.env, name);
  }

  private fromEnv(requested: string, resolvedName: string, value: string): SecretResult {
    return foundResult(
      requested,
      resolvedName,
      "env",
      { value: { text: value, version: "" }, fromCache: false, stale: false, fetchedAt: Date.now() },
      false,
    );
  }

  private failure(requested: string, error: unknown, target: Backend, call?: DriverCall): SecretResult {
    const { code, message } = target.driver.toServiceError(error, call);
    return failedResult(requested, code, message);
  }
}

/** Whether `object` has an own key (without building the list of them: this is asked on every Read). */
function hasKeys(object: Readonly<Record<string, unknown>>): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true;
  return false;
}
