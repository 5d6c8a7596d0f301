import type { DescMethod, DescMethodUnary } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { SecretService as SecretServiceDesc, type ReadResponse } from "../../gen/secretgate/v1/secret_service_pb.js";
import type { CallContext } from "../core/call-context.js";
import { Code, ServiceError, statusName } from "../core/errors.js";
import type { SecretService } from "../core/secret-service.js";
import { requestMetrics } from "../metrics/metrics.js";

/** The contract's methods; all are unary. */
export const serviceMethods: readonly DescMethodUnary[] = SecretServiceDesc.methods.filter(
  (method: DescMethod): method is DescMethod & DescMethodUnary => method.methodKind === "unary",
);

type Handler = (request: unknown, context: CallContext) => Promise<unknown>;

/**
 * What both listeners call for every RPC: it runs the service method, writes the one log line
 * per request (method, names, outcome, duration — never values), counts calls in flight for
 * graceful shutdown, and turns unexpected failures into INTERNAL without leaking details.
 */
export class Dispatcher {
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private readonly handlers: ReadonlyMap<string, Handler>;
  private readonly metrics = requestMetrics();

  constructor(
    service: SecretService,
    private readonly logger: Logger,
  ) {
    this.handlers = new Map<string, Handler>([
      ["read", (request, context) => service.read(request as never, context)],
      ["write", (request, context) => service.write(request as never, context)],
      ["delete", (request, context) => service.delete(request as never, context)],
      ["rotate", (request, context) => service.rotate(request as never, context)],
      ["listHosted", (request, context) => service.listHosted(request as never, context)],
      ["setTeamSettings", (request) => service.setTeamSettings(request as never)],
      ["getTeamSettings", (request) => service.getTeamSettings(request as never)],
    ]);
  }

  async dispatch(method: DescMethodUnary, request: unknown, context: CallContext): Promise<unknown> {
    const handler = this.handlers.get(method.localName);
    if (!handler) throw new ServiceError(Code.Unimplemented, `${method.name} is not implemented`);
    const started = performance.now();
    this.inFlight++;
    try {
      const response = await handler(request, context);
      this.metrics.observe(method.name, "OK", (performance.now() - started) / 1000);
      this.logger.info({ ...describeCall(method, request, context), outcome: "OK", ...describeResponse(method, response), ms: elapsed(started) }, "rpc");
      return response;
    } catch (error) {
      const failure = toServiceError(error);
      this.metrics.observe(method.name, statusName(failure.code), (performance.now() - started) / 1000);
      const fields = { ...describeCall(method, request, context), outcome: statusName(failure.code), error: failure.message, ms: elapsed(started) };
      if (failure.code === Code.Internal) this.logger.error({ ...fields, stack: (error as Error).stack }, "rpc");
      else this.logger.info(fields, "rpc");
      throw failure;
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.drained?.();
    }
  }

  /** Resolves when no call is in flight (or at once when none is). */
  whenDrained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }
}

function toServiceError(error: unknown): ServiceError {
  if (error instanceof ServiceError) return error;
  return new ServiceError(Code.Internal, "internal error (logged on the server)");
}

/** The request's identifying fields: names and team, never values or settings. */
function describeCall(method: DescMethodUnary, request: unknown, context: CallContext): Record<string, unknown> {
  const fields = request as Record<string, unknown>;
  const described: Record<string, unknown> = { method: method.name, protocol: context.protocol, peer: context.peer };
  if (Array.isArray(fields.names)) described.names = fields.names;
  for (const key of ["name", "currentName", "newName", "teamId"]) {
    if (typeof fields[key] === "string" && fields[key] !== "") described[key] = fields[key];
  }
  return described;
}

function describeResponse(method: DescMethodUnary, response: unknown): Record<string, unknown> {
  if (method.localName !== "read") return {};
  const results = (response as ReadResponse).results;
  return {
    items: results.map((result) => ({
      outcome: result.error ? statusName(result.error.code) : "OK",
      source: result.source,
      version: result.version,
      fromCache: result.fromCache,
    })),
  };
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 1000) / 1000;
