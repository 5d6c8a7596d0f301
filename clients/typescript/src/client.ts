import { createRequire } from "node:module";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, type GrpcTransportOptions } from "@connectrpc/connect-node";
import { AdminService } from "./gen/secretgate/v1/admin_service_pb.js";
import { SecretService, type ReadResponse } from "./gen/secretgate/v1/secret_service_pb.js";
import { runHealthCheck, type HealthReport } from "./health.js";

/** The generated SecretService client, what a proxy calls: one async method per RPC (`read`, `write`, `delete`, …). */
export type SecretClient = Client<typeof SecretService>;

/** The generated AdminService client, what an operator calls (`whoAmI`, `describeBackends`, `listTeams`, `tailAudit`, …). */
export type AdminClient = Client<typeof AdminService>;

/** How either client reaches the server. */
export type ClientOptions = Omit<GrpcTransportOptions, "baseUrl"> & {
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /**
   * Sends the caller's active OpenTelemetry span as W3C `traceparent` / `tracestate` headers, so
   * the server's spans join the caller's trace. Needs `@opentelemetry/api` (an optional peer
   * dependency) with a context manager; without either it sends nothing. A `traceparent` the call
   * sets in its own `headers` is left as it is. Default true.
   */
  propagateTraceContext?: boolean;
};

export type AdminClientOptions = ClientOptions;

export type SecretClientOptions = ClientOptions & {
  /**
   * secretgate never serves its own environment: a name it does not host comes back as a miss whose
   * `error.reason` is `NOT_HOSTED` ("read it from your own environment"). With this option such a
   * Read result is answered from the caller's environment instead (`true`: `process.env`; or the
   * variables to use): `found: true`, `source: "caller_environment"`. Unset variables stay misses.
   */
  environmentFallback?: boolean | Readonly<Record<string, string | undefined>>;
};

/** `ItemError.reason` of a name the server does not host: the caller reads its own environment. */
export const NOT_HOSTED = "NOT_HOSTED";
/** `SecretResult.source` of a value the client read from its own environment. */
export const CALLER_ENVIRONMENT = "caller_environment";

/** A call with no deadline can hang forever on a black-holed connection; callers may pass their own. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** A deadline longer than an hour is a typo, not a wish (deadlines are for calls, not for jobs). */
export const MAX_TIMEOUT_MS = 3_600_000;

/**
 * Creates a client of SecretService (what a proxy calls) for the secretgate gRPC listener at
 * `url`: `http://host:port` for plaintext HTTP/2 (the server's own listener), `https://host:port`
 * for TLS (pass `nodeOptions: { ca }` for private roots). Every call has a deadline
 * (`defaultTimeoutMs`, 10 s unless set; `timeoutMs` per call), and failures reject with a
 * `ConnectError` whose `code` is the gRPC status.
 */
export function createSecretClient(url: string, options: SecretClientOptions = {}): SecretClient {
  const { environmentFallback, ...clientOptions } = options;
  const fallback = environmentFallback ? [readFromEnvironment(environmentFallback === true ? process.env : environmentFallback)] : [];
  return createClient(SecretService, transportFor(url, clientOptions, fallback));
}

/**
 * Creates a client of AdminService (what an operator calls: WhoAmI, DescribeBackends, ListTeams,
 * TestTeamSettings, GetStats, ListCallers, TailAudit, PlanMigration, MigrateSecret) for the
 * gRPC listener at `url`, with the same options, deadlines and errors as `createSecretClient`.
 * Each client opens its own connection.
 */
export function createAdminClient(url: string, options: AdminClientOptions = {}): AdminClient {
  return createClient(AdminService, transportFor(url, options, []));
}

/**
 * Checks, with the same url and options as createSecretClient and within `timeoutMs` (the
 * `defaultTimeoutMs`, 10 s unless set), the server (grpc.health.v1), the token (WhoAmI) and the
 * back end a read reaches (a Read of the reserved name `secretgate-readiness-probe` past the cache),
 * in that order; the report says which failed. It rejects only for bad arguments.
 */
export async function checkHealth(url: string, options: SecretClientOptions & { timeoutMs?: number } = {}): Promise<HealthReport> {
  const { timeoutMs, environmentFallback: _answeredByTheServerOnly, ...clientOptions } = options;
  const transport = transportFor(url, clientOptions, []);
  return runHealthCheck(transport, checkedTimeoutMs(timeoutMs ?? clientOptions.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS, "timeoutMs"));
}

/** Either client's transport: the token, the caller's trace context, then `own` (a client's own interceptors), then the caller's. */
function transportFor(url: string, options: ClientOptions, own: Interceptor[]): Transport {
  const { token, propagateTraceContext = true, interceptors = [], defaultTimeoutMs = DEFAULT_TIMEOUT_MS, ...transportOptions } = options;
  const protocol = new URL(url).protocol;
  if (protocol !== "http:" && protocol !== "https:") {
    throw new TypeError(`secretgate: url must start with http:// or https://, got ${protocol}`);
  }
  const openTelemetry = propagateTraceContext ? openTelemetryApi() : undefined;
  return createGrpcTransport({
    ...transportOptions,
    baseUrl: url,
    defaultTimeoutMs: checkedTimeoutMs(defaultTimeoutMs, "defaultTimeoutMs"),
    interceptors: [...(token ? [bearerToken(token)] : []), ...(openTelemetry ? [traceContext(openTelemetry)] : []), ...own, ...interceptors],
  });
}

/** A deadline in milliseconds, or a TypeError naming the option: 0, a negative number or NaN would be no deadline at all. */
function checkedTimeoutMs(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT_MS) {
    throw new TypeError(`secretgate: ${name} must be a number of milliseconds greater than 0 and at most ${MAX_TIMEOUT_MS}, got ${String(value)}`);
  }
  return value;
}

function bearerToken(token: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
}

type OpenTelemetryApi = typeof import("@opentelemetry/api");

/**
 * The application's `@opentelemetry/api`, if it has one. Every copy of the API (CommonJS or ESM)
 * shares one global registry, so this sees the context manager the application set up.
 */
function openTelemetryApi(): OpenTelemetryApi | undefined {
  try {
    return createRequire(import.meta.url)("@opentelemetry/api") as OpenTelemetryApi;
  } catch {
    return undefined;
  }
}

/** The active span as W3C Trace Context headers (the format secretgate reads), whatever propagator the application set. */
function traceContext(api: OpenTelemetryApi): Interceptor {
  return (next) => (request) => {
    const span = api.trace.getSpanContext(api.context.active());
    if (span && api.isSpanContextValid(span) && !request.header.has("traceparent")) {
      request.header.set("traceparent", `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, "0")}`);
      const state = span.traceState?.serialize();
      if (state) request.header.set("tracestate", state);
    }
    return next(request);
  };
}

function readFromEnvironment(env: Readonly<Record<string, string | undefined>>): Interceptor {
  return (next) => async (request) => {
    const response = await next(request);
    if (response.stream || request.method !== SecretService.method.read) return response;
    for (const result of (response.message as ReadResponse).results) {
      if (result.error?.reason !== NOT_HOSTED) continue;
      // Own properties only: a name such as "constructor" is not a member of the environment.
      const value = Object.hasOwn(env, result.name) ? env[result.name] : undefined;
      if (typeof value !== "string") continue;
      Object.assign(result, { found: true, value, source: CALLER_ENVIRONMENT, error: undefined });
    }
    return response;
  };
}
