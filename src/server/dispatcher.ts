import type { DescMethod, DescMethodUnary } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { SecretService as SecretServiceDesc, type ReadResponse, type WriteResponse } from "../../gen/secretgate/v1/secret_service_pb.js";
import type { Authenticator } from "../auth/authenticator.js";
import type { AuditLog } from "../audit.js";
import type { AuthorizedCall, CallContext } from "../core/call-context.js";
import { Code, ServiceError, statusName } from "../core/errors.js";
import type { SecretService } from "../core/secret-service.js";
import { recordAuditRecord, requestMetrics } from "../metrics/metrics.js";

/** The contract's methods; all are unary. */
export const serviceMethods: readonly DescMethodUnary[] = SecretServiceDesc.methods.filter(
  (method: DescMethod): method is DescMethod & DescMethodUnary => method.methodKind === "unary",
);

/** A service method: its answer, or a promise of it. */
type Handler = (request: unknown, call: AuthorizedCall) => unknown;

/**
 * What both listeners call for every RPC: it authenticates the caller, runs the service method,
 * writes the one audit record per request (identity, method, names, team, outcome per item,
 * from_cache, version, client address, duration — never values), counts calls in flight for
 * graceful shutdown, and turns unexpected failures into INTERNAL without leaking details.
 */
export class Dispatcher {
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private readonly handlers: ReadonlyMap<string, Handler>;
  private readonly metrics = requestMetrics();

  constructor(
    service: SecretService,
    private readonly authenticator: Authenticator,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
  ) {
    this.handlers = new Map<string, Handler>([
      ["read", (request, call) => service.read(request as never, call)],
      ["write", (request, call) => service.write(request as never, call)],
      ["delete", (request, call) => service.delete(request as never, call)],
      ["rotate", (request, call) => service.rotate(request as never, call)],
      ["listHosted", (request, call) => service.listHosted(request as never, call)],
      ["setTeamSettings", (request, call) => service.setTeamSettings(request as never, call)],
      ["getTeamSettings", (request, call) => service.getTeamSettings(request as never, call)],
    ]);
  }

  /**
   * Runs one call. The answer comes back synchronously when the service method has it at once
   * (a Read of cached names), so the hot path makes no promise; otherwise as a promise.
   * Failures are thrown (or rejected) as ServiceErrors.
   */
  dispatch(method: DescMethodUnary, request: unknown, context: CallContext): unknown {
    const handler = this.handlers.get(method.localName);
    if (!handler) throw new ServiceError(Code.Unimplemented, `${method.name} is not implemented`);
    const started = performance.now();
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

  private succeeded(method: DescMethodUnary, request: unknown, context: CallContext, identity: string | undefined, started: number, response: unknown): unknown {
    try {
      this.record(method, request, context, identity, "OK", started, describeResponse(method, response));
    } finally {
      this.settle();
    }
    return response;
  }

  /** Records a failed call; returns the ServiceError to report. */
  private failed(method: DescMethodUnary, request: unknown, context: CallContext, identity: string | undefined, started: number, error: unknown): ServiceError {
    const failure = toServiceError(error);
    try {
      if (failure.code === Code.Internal) this.logger.error({ method: method.name, stack: (error as Error).stack }, "internal error");
      this.record(method, request, context, identity, statusName(failure.code), started, { error: failure.message });
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
  refuse(method: DescMethodUnary, context: CallContext, error: ServiceError): void {
    let identity: string | undefined;
    try {
      identity = this.authenticator.authenticate(context.credentials).name;
    } catch {
      // Recorded as unauthenticated (null).
    }
    this.record(method, {}, context, identity, statusName(error.code), performance.now(), { error: error.message });
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

  private record(
    method: DescMethodUnary,
    request: unknown,
    context: CallContext,
    identity: string | undefined,
    outcome: string,
    started: number,
    details: Record<string, unknown>,
  ): void {
    const fields = request as Record<string, unknown>;
    const record: Record<string, unknown> = {
      service: "secretgate",
      identity: identity ?? null,
      method: method.name,
      protocol: context.protocol,
      peer: context.peer,
      outcome,
      ms: Math.round((performance.now() - started) * 1000) / 1000,
    };
    for (const key of ["teamId", "name", "currentName", "newName"]) {
      if (typeof fields[key] === "string" && fields[key] !== "") record[key] = fields[key];
    }
    if (method.localName === "read" && details.items === undefined && Array.isArray(fields.names)) record.names = fields.names;
    Object.assign(record, details);
    this.audit.write(record);
    this.metrics.observe(method.name, outcome, (performance.now() - started) / 1000);
    recordAuditRecord();
  }
}

function toServiceError(error: unknown): ServiceError {
  if (error instanceof ServiceError) return error;
  return new ServiceError(Code.Internal, "internal error (logged on the server)");
}

/** Per-item outcomes of a Read, and the version a Write made: what was served, never the value. */
function describeResponse(method: DescMethodUnary, response: unknown): Record<string, unknown> {
  if (method.localName === "read") {
    return {
      items: (response as ReadResponse).results.map((result) => {
        const item: Record<string, unknown> = {
          name: result.resolvedName || result.name,
          outcome: result.error ? result.error.status : "OK",
          source: result.source,
          version: result.version,
          fromCache: result.fromCache,
        };
        if (result.stale) item.stale = true;
        return item;
      }),
    };
  }
  if (method.localName === "write") return { version: (response as WriteResponse).version, stored: (response as WriteResponse).name };
  return {};
}
