import type { DescMethod, DescMethodServerStreaming, DescMethodUnary, DescService } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import {
  AdminService,
  type MigrateSecretResponse,
  MigrationOutcome,
  type PlanMigrationResponse,
} from "../../gen/secretgate/v1/admin_service_pb.js";
import {
  type ReadResponse,
  type SecretResult,
  SecretService,
  type WriteResponse,
} from "../../gen/secretgate/v1/secret_service_pb.js";
import type { AuditLog } from "../audit.js";
import { type AuditList, auditedName, auditedTeamId, boundedMessage } from "../audit-record.js";
import type { Authenticator } from "../auth/authenticator.js";
import type { AuthorizedCall, CallContext, ServiceImplementation } from "../core/call-context.js";
import { Code, ServiceError, statusName } from "../core/errors.js";
import { teamSettingsDigest } from "../core/team-settings.js";
import { recordAuditRecord, requestMetrics } from "../metrics/metrics.js";
import { OK, type ReadSummary, type RpcOutcome, type Tracing } from "../tracing/tracing.js";

/** The contract's services: what a proxy calls, and what an operator calls. Both listeners serve both. */
export const SERVICES: readonly DescService[] = [SecretService, AdminService];

/** The contract's unary methods, of every service. */
export const serviceMethods: readonly DescMethodUnary[] = SERVICES.flatMap((service) => service.methods).filter(
  (method: DescMethod): method is DescMethod & DescMethodUnary => method.methodKind === "unary",
);

/** The contract's server-streaming methods (TailAudit). */
export const streamingMethods: readonly DescMethodServerStreaming[] = SERVICES.flatMap(
  (service) => service.methods,
).filter(
  (method: DescMethod): method is DescMethod & DescMethodServerStreaming => method.methodKind === "server_streaming",
);

/** A method's HTTP path, `/secretgate.v1.SecretService/Read`: how both listeners route calls. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** The core's implementation of each service, typed by its generated descriptor. */
export interface ServiceImplementations {
  secrets: ServiceImplementation<typeof SecretService>;
  admin: ServiceImplementation<typeof AdminService>;
}

/** A service method: its answer, or a promise of it. The request was decoded with the method's own input type. */
type Handler = (request: unknown, call: AuthorizedCall) => unknown;

/**
 * Each method of `service` with its implementation's handler. The implementation's type makes
 * every handler take its method's request and answer its response; here each is looked up once,
 * at start-up, by the method's descriptor, and a method without one stops the start.
 */
function handlersOf<S extends DescService>(
  service: S,
  implementation: ServiceImplementation<S>,
): Array<[DescMethod, Handler]> {
  return service.methods.map((method) => {
    const handler: unknown = Reflect.get(implementation, method.localName);
    if (typeof handler !== "function")
      throw new Error(`the implementation of ${service.typeName} has no ${method.name}`);
    return [method, (request, call) => handler.call(implementation, request, call)];
  });
}

/**
 * What both listeners call for every RPC: it authenticates the caller, runs the service method,
 * writes the one audit record per request (identity, method, names, team, a digest of the call's
 * own team settings, outcome per item, from_cache, version, client address, duration — never
 * values; at most 4 KiB), counts calls in flight for graceful shutdown, and turns unexpected
 * failures into INTERNAL without leaking details. The audit log decides when an answer may leave
 * (AuditLog: under fail_closed an OK answer waits until its record is written, and no call runs
 * while records cannot be written); the dispatcher only waits on what it is given.
 */
export class Dispatcher {
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private readonly handlers: ReadonlyMap<DescMethod, Handler>;
  private readonly metrics = requestMetrics();

  constructor(
    services: ServiceImplementations,
    private readonly authenticator: Authenticator,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
    /** Present only while tracing is on; the listeners read trace headers only then. */
    readonly tracing?: Tracing,
  ) {
    this.handlers = new Map([
      ...handlersOf(SecretService, services.secrets),
      ...handlersOf(AdminService, services.admin),
    ]);
  }

  /**
   * Opens a server stream: authenticates the caller and writes the call's one audit record when
   * the stream opens (or is refused); failures while it runs end the stream with their status.
   * Streams are not counted in flight: a tail lasts until the caller leaves or shutdown ends it.
   */
  dispatchStream(method: DescMethodServerStreaming, request: unknown, context: CallContext): AsyncIterable<unknown> {
    const handler = this.handlers.get(method);
    if (!handler) throw new ServiceError(Code.Unimplemented, `${method.name} is not implemented`);
    const started = performance.now();
    this.admit(method);
    let identity: string | undefined;
    let stream: AsyncIterable<unknown>;
    try {
      const call = context as AuthorizedCall;
      call.identity = this.authenticator.authenticate(context.credentials);
      identity = call.identity.name;
      stream = handler(request, call) as AsyncIterable<unknown>;
    } catch (error) {
      const failure = toServiceError(error);
      this.record(method, request, context, identity, statusName(failure.code), started, { error: failure.message });
      this.observe(method, statusName(failure.code), started);
      throw failure;
    }
    const written = this.record(method, request, context, identity, "OK", started, {});
    this.observe(method, "OK", started);
    return written ? afterWritten(written, stream) : stream;
  }

  /**
   * Runs one call. The answer comes back synchronously when the service method has it at once
   * (a Read of cached names) and the audit log lets it leave at once (fail_open), so that hot
   * path makes no promise; otherwise as a promise (under fail_closed, settled once the call's
   * audit record is written). Failures are thrown (or rejected) as ServiceErrors.
   */
  dispatch(method: DescMethodUnary, request: unknown, context: CallContext): unknown {
    if (this.tracing) return this.dispatchTraced(this.tracing, method, request, context);
    return this.run(method, request, context);
  }

  /** `run` inside the call's server span, ended with the call's outcome. */
  private dispatchTraced(tracing: Tracing, method: DescMethodUnary, request: unknown, context: CallContext): unknown {
    const span = tracing.startRpc(context.protocol, method.parent.typeName, method.name, context);
    const outcome = (code: RpcOutcome["code"], response?: unknown): RpcOutcome => ({
      code,
      identity: (context as Partial<AuthorizedCall>).identity?.name,
      ...(tracing.recordNames ? requestNamesAndTeam(request) : {}),
      read:
        method === SecretService.method.read && response !== undefined
          ? readSummary(response as ReadResponse)
          : undefined,
    });
    let response: unknown;
    try {
      response = span.run(() => this.run(method, request, context));
    } catch (error) {
      span.end(outcome((error as ServiceError).code));
      throw error;
    }
    if (!(response instanceof Promise)) {
      span.end(outcome(OK, response));
      return response;
    }
    return response.then(
      (answer: unknown) => {
        span.end(outcome(OK, answer));
        return answer;
      },
      (error: unknown) => {
        span.end(outcome((error as ServiceError).code));
        throw error;
      },
    );
  }

  private run(method: DescMethodUnary, request: unknown, context: CallContext): unknown {
    const handler = this.handlers.get(method);
    if (!handler) throw new ServiceError(Code.Unimplemented, `${method.name} is not implemented`);
    const started = performance.now();
    this.admit(method);
    this.inFlight++;
    let identity: string | undefined;
    let response: unknown;
    try {
      const call = context as AuthorizedCall;
      call.identity = this.authenticator.authenticate(context.credentials);
      identity = call.identity.name;
      response = handler(request, call);
    } catch (error) {
      throw this.failed(method, request, context, identity, started, error);
    }
    if (!(response instanceof Promise)) return this.succeeded(method, request, context, identity, started, response);
    return response.then(
      (answer: unknown) => this.succeeded(method, request, context, identity, started, answer),
      (error: unknown) => {
        throw this.failed(method, request, context, identity, started, error);
      },
    );
  }

  /**
   * Records a call that succeeded; its answer, or a promise of it once the record is written (a refusal if it
   * cannot be).
   */
  private succeeded(
    method: DescMethodUnary,
    request: unknown,
    context: CallContext,
    identity: string | undefined,
    started: number,
    response: unknown,
  ): unknown {
    let written: Promise<void> | undefined;
    try {
      written = this.record(
        method,
        request,
        context,
        identity,
        "OK",
        started,
        describeResponse(method, response),
        readItems(method, response),
      );
    } finally {
      if (!written) this.settle();
    }
    if (!written) {
      this.observe(method, "OK", started);
      return response;
    }
    return written.then(
      () => {
        this.settle();
        this.observe(method, "OK", started);
        return response;
      },
      (refusal: unknown) => {
        this.settle();
        this.observe(method, statusName((refusal as ServiceError).code), started);
        throw refusal;
      },
    );
  }

  private observe(method: DescMethodUnary | DescMethodServerStreaming, outcome: string, started: number): void {
    this.metrics.observe(method.name, outcome, (performance.now() - started) / 1000);
  }

  /** Refuses a call before it runs when the audit log says so (its records cannot be written). */
  private admit(method: DescMethodUnary | DescMethodServerStreaming): void {
    const refusal = this.audit.refuse();
    if (!refusal) return;
    this.observe(method, statusName(refusal.code), performance.now());
    throw refusal;
  }

  /** Records a failed call; returns the ServiceError to report. */
  private failed(
    method: DescMethodUnary,
    request: unknown,
    context: CallContext,
    identity: string | undefined,
    started: number,
    error: unknown,
  ): ServiceError {
    const failure = toServiceError(error);
    try {
      if (failure.code === Code.Internal)
        this.logger.error({ method: method.name, stack: (error as Error).stack }, "internal error");
      this.record(method, request, context, identity, statusName(failure.code), started, { error: failure.message });
      this.observe(method, statusName(failure.code), started);
    } finally {
      this.settle();
    }
    return failure;
  }

  /**
   * Audits a call refused before it reached the service (its body did not decode, its Host was
   * bad): nothing runs, one record is written. The caller's identity is recorded when its
   * credentials are good.
   */
  refuse(method: DescMethodUnary | DescMethodServerStreaming, context: CallContext, error: ServiceError): void {
    let identity: string | undefined;
    try {
      identity = this.authenticator.authenticate(context.credentials).name;
    } catch {
      // Recorded as unauthenticated (null).
    }
    const started = performance.now();
    this.record(method, {}, context, identity, statusName(error.code), started, { error: error.message });
    this.observe(method, statusName(error.code), started);
  }

  private settle(): void {
    this.inFlight--;
    if (this.inFlight === 0) this.drained?.();
  }

  /** Resolves when no call is in flight (or at once when none is). */
  whenDrained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  /**
   * Writes the call's audit record. What the caller sent is recorded only as the service would
   * accept it (src/audit-record.ts): a name or team id it would refuse appears as its length and
   * digest, an error message is cut to its first 512 bytes, and a list (a Read's items, or its
   * names when it failed) keeps what fits in the record's 4 KiB.
   */
  private record(
    method: DescMethodUnary | DescMethodServerStreaming,
    request: unknown,
    context: CallContext,
    identity: string | undefined,
    outcome: string,
    started: number,
    details: Record<string, unknown>,
    items?: AuditList,
  ): Promise<void> | undefined {
    const fields = (request ?? {}) as Record<string, unknown>;
    const record: Record<string, unknown> = {
      service: "secretgate",
      identity: identity ?? null,
      method: method.name,
      protocol: context.protocol,
      peer: context.peer,
      outcome,
      ms: Math.round((performance.now() - started) * 1000) / 1000,
    };
    // The back ends the access decision let the call reach: TailAudit shows the record only to admins who may reach
    // them.
    const { reached } = context as Partial<AuthorizedCall>;
    if (reached !== undefined && reached.length > 0) record.backends = reached;
    if (typeof fields.teamId === "string" && fields.teamId !== "") record.teamId = auditedTeamId(fields.teamId);
    for (const key of NAME_FIELDS) {
      const value = fields[key];
      if (typeof value === "string" && value !== "") record[key] = auditedName(value);
    }
    // A migration's flags: whether it changed anything, and whether it deleted.
    for (const key of FLAG_FIELDS) if (fields[key] === true) record[key] = true;
    // A call's own team settings may hold credentials: the record shows which, never what.
    const sent = fields.teamSettings as Record<string, unknown> | undefined;
    if (sent !== undefined && hasKeys(sent)) record.teamSettingsDigest = teamSettingsDigest(sent);
    if (details !== NOTHING_CHANGED) Object.assign(record, details);
    if (typeof record.error === "string") record.error = boundedMessage(record.error);
    const names = fields.names;
    const list =
      items ?? (method === SecretService.method.read && Array.isArray(names) ? requestedNames(names) : undefined);
    const written = this.audit.write(record, list);
    recordAuditRecord();
    return written;
  }
}

/** A stream that opens once its call's audit record is written (or fails with the refusal). */
async function* afterWritten(written: Promise<void>, stream: AsyncIterable<unknown>): AsyncIterable<unknown> {
  await written;
  yield* stream;
}

function toServiceError(error: unknown): ServiceError {
  if (error instanceof ServiceError) return error;
  return new ServiceError(Code.Internal, "internal error (logged on the server)");
}

/** What a call changed, never a value: the version a Write made and where, what a migration did with a secret. */
function describeResponse(method: DescMethodUnary, response: unknown): Record<string, unknown> {
  if (method === SecretService.method.write) {
    const written = response as WriteResponse;
    return {
      version: written.version,
      stored: written.name,
      source: written.source,
      ...(written.warnings.length > 0 ? { warnings: written.warnings } : {}),
    };
  }
  if (method === AdminService.method.planMigration) {
    const planned = response as PlanMigrationResponse;
    return {
      planned: planned.names.length,
      ...(planned.leftOut.length > 0 ? { leftOut: planned.leftOut.length } : {}),
    };
  }
  if (method === AdminService.method.migrateSecret) {
    const migrated = response as MigrateSecretResponse;
    return {
      migration: MigrationOutcome[migrated.outcome],
      ...(migrated.version !== "" ? { version: migrated.version } : {}),
      ...(migrated.overwritten ? { overwritten: true } : {}),
      ...(migrated.notKept.length > 0 ? { notKept: migrated.notKept } : {}),
      ...(migrated.sourceDeleted ? { sourceDeleted: true } : {}),
      ...(migrated.warnings.length > 0 ? { warnings: migrated.warnings } : {}),
    };
  }
  return NOTHING_CHANGED;
}

/** What a call that changed nothing adds to its record (a Read): nothing. */
const NOTHING_CHANGED: Readonly<Record<string, unknown>> = Object.freeze({});
/** A request's fields that name a secret or a back end, recorded as the service would accept them. */
const NAME_FIELDS = ["name", "currentName", "newName", "backend", "fromBackend", "toBackend"] as const;
/** A migration's flags: whether it changed anything, and whether it deleted. */
const FLAG_FIELDS = ["dryRun", "deleteSource"] as const;

/** Whether `object` has an own key, without building the list of them. */
function hasKeys(object: Readonly<Record<string, unknown>>): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true;
  return false;
}

/** Per-item outcomes of a Read: what was served, never the value. */
function readItems(method: DescMethodUnary, response: unknown): AuditList | undefined {
  if (method !== SecretService.method.read) return undefined;
  return new ReadItems((response as ReadResponse).results);
}

/** A Read's items, each built when the record asks for it. */
export class ReadItems implements AuditList {
  readonly key = "items";

  constructor(private readonly results: readonly SecretResult[]) {}

  get length(): number {
    return this.results.length;
  }

  entry(index: number): unknown {
    const result = this.results[index]!;
    const item: Record<string, unknown> = {
      // A resolved name passed validation; an item refused before that has only what was sent.
      name: result.resolvedName || auditedName(result.name),
      outcome: result.error ? result.error.status : "OK",
      source: result.source,
      version: result.version,
      fromCache: result.fromCache,
    };
    if (result.stale) item.stale = true;
    if (result.fallback) item.fallback = true;
    return item;
  }

  /** The same item as JSON, written without the object: a Read of many names records dozens of them. */
  json(index: number): string {
    const result = this.results[index]!;
    const name = JSON.stringify(result.resolvedName || auditedName(result.name));
    const outcome = result.error ? JSON.stringify(result.error.status) : '"OK"';
    const source = JSON.stringify(result.source);
    const version = JSON.stringify(result.version);
    const flags = `${result.stale ? ',"stale":true' : ""}${result.fallback ? ',"fallback":true' : ""}`;
    const fromCache = `"fromCache":${result.fromCache}`;
    return `{"name":${name},"outcome":${outcome},"source":${source},"version":${version},${fromCache}${flags}}`;
  }
}

/** A Read's answers, counted for its span. */
function readSummary({ results }: ReadResponse): ReadSummary {
  const summary: ReadSummary = { names: results.length, found: 0, fromCache: 0, stale: 0 };
  for (const result of results) {
    if (result.found) summary.found++;
    if (result.fromCache) summary.fromCache++;
    if (result.stale) summary.stale++;
  }
  return summary;
}

/** The names and team a call was sent (a span holds them only with `record_names`). */
function requestNamesAndTeam(request: unknown): Pick<RpcOutcome, "names" | "teamId"> {
  const fields = (request ?? {}) as Record<string, unknown>;
  const names = ["name", "currentName", "newName"]
    .map((key) => fields[key])
    .filter((name): name is string => typeof name === "string" && name !== "");
  if (Array.isArray(fields.names))
    names.push(...fields.names.filter((name): name is string => typeof name === "string"));
  return { names, teamId: typeof fields.teamId === "string" ? fields.teamId : undefined };
}

/** The names a Read that failed as a whole (e.g. unauthenticated) asked for. */
function requestedNames(names: readonly unknown[]): AuditList {
  return { key: "names", length: names.length, entry: (index) => auditedName(String(names[index])) };
}
