import {
  type Attributes,
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { digestOf } from "../audit-record.js";
import { Code, statusName } from "../core/errors.js";
import { isValidTeamId, secretNameProblem, stripEnvReference } from "../core/names.js";

/** The caller's W3C trace context as a listener read it (only while tracing is on). */
export interface TraceHeaders {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

/** What a back-end call does, as its span names it. */
export type BackendOperation = "read" | "write" | "delete" | "list" | "version" | "describe" | "update_metadata";

/** A call's outcome: OK, or the portable code it failed with. */
export type Outcome = Code | typeof OK;
export const OK = 0;

/** What an RPC span records when the call ends; names only reach it with `record_names`. */
export interface RpcOutcome {
  code: Outcome;
  /** The authenticated caller's configured name (never a token). */
  identity?: string | undefined;
  teamId?: string | undefined;
  names?: readonly string[] | undefined;
  read?: ReadSummary | undefined;
}

/** A Read's per-item answers, counted. */
export interface ReadSummary {
  names: number;
  found: number;
  fromCache: number;
  stale: number;
}

/** Counts a back-end call's retries while it runs. */
export interface Attempts {
  retries: number;
}

// A version-00 traceparent is 55 characters; later versions may append fields, but nothing
// legitimate comes near this. A longer value is ignored whole: the call starts a new trace.
const MAX_TRACEPARENT_CHARS = 256;
// Vendors need propagate only 512 characters of tracestate (W3C Trace Context, "tracestate
// limits"); a longer one is dropped rather than parsed.
const MAX_TRACESTATE_CHARS = 512;
/** With record_names, an RPC span lists at most this many names (a Read may ask for 1,000). */
export const MAX_RECORDED_NAMES = 32;

// The status codes that are the server's failure rather than the caller's (OpenTelemetry's RPC
// conventions): only these mark a server span as an error.
const SERVER_FAULTS: ReadonlySet<Outcome> = new Set([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

const headerGetter: TextMapGetter<TraceHeaders> = {
  keys: () => ["traceparent", "tracestate"],
  get: (carrier, key) =>
    key === "traceparent" ? carrier.traceparent : key === "tracestate" ? carrier.tracestate : undefined,
};

/**
 * secretgate's spans, written once for every listener and back end: one server span per RPC (a
 * child of the caller's span when its `traceparent` is valid) and one client span per back-end
 * call. Spans carry methods, outcomes, identities and counts; secret names and team ids only with
 * `record_names`, and never values or team settings. Built only when tracing is on: with it off,
 * the dispatcher and the back end hold no Tracing and make no span.
 */
export class Tracing {
  constructor(
    private readonly tracer: Tracer,
    private readonly propagator: TextMapPropagator,
    readonly recordNames: boolean,
  ) {}

  /** Starts the server span of one RPC; `run` the call inside it so back-end spans become its children. */
  startRpc(protocol: "grpc" | "connect", service: string, method: string, headers: TraceHeaders): RpcSpan {
    const parent = this.callerContext(headers);
    const system = protocol === "grpc" ? "grpc" : "connect_rpc";
    const span = this.tracer.startSpan(
      `${service}/${method}`,
      { kind: SpanKind.SERVER, attributes: { "rpc.system": system, "rpc.service": service, "rpc.method": method } },
      parent,
    );
    return new RpcSpan(span, trace.setSpan(parent, span), system, this.recordNames);
  }

  /**
   * Runs one logical back-end call (its retries included) in a client span under the active one.
   * A call that answers `undefined` (no such secret) ends NOT_FOUND; a failure, with its code.
   */
  backendCall<T>(
    backend: string,
    operation: BackendOperation,
    name: string | undefined,
    run: (attempts: Attempts) => Promise<T>,
  ): Promise<T> {
    // The configured back end's name (`vault-eu`; a general_settings back end is named after its system).
    const attributes: Attributes = { "secretgate.backend.name": backend, "secretgate.backend.operation": operation };
    if (this.recordNames && name !== undefined) attributes["secretgate.name"] = name;
    const span = this.tracer.startSpan(`${backend} ${operation}`, { kind: SpanKind.CLIENT, attributes });
    const attempts: Attempts = { retries: 0 };
    const end = (outcome: Outcome) => {
      span.setAttributes({
        "secretgate.backend.outcome": outcomeName(outcome),
        "secretgate.backend.retries": attempts.retries,
      });
      if (outcome !== OK && outcome !== Code.NotFound)
        span.setStatus({ code: SpanStatusCode.ERROR, message: statusName(outcome) });
      span.end();
    };
    return run(attempts).then(
      (result) => {
        end(result === undefined ? Code.NotFound : OK);
        return result;
      },
      (error: unknown) => {
        end(codeOf(error));
        throw error;
      },
    );
  }

  /**
   * Runs work the service starts on its own (a refresh ahead of expiry) as a trace of its own,
   * linked to the call that set it off: it outlives that call and is not part of its latency.
   */
  detached<T>(name: string, run: () => Promise<T>): Promise<T> {
    const trigger = trace.getSpanContext(context.active());
    const span = this.tracer.startSpan(name, {
      kind: SpanKind.INTERNAL,
      root: true,
      links: trigger ? [{ context: trigger }] : [],
    });
    return context.with(trace.setSpan(ROOT_CONTEXT, span), run).finally(() => span.end());
  }

  /**
   * The caller's span context, or none (a new trace). Malformed, oversized and repeated values
   * (a listener joins repeats, which no valid traceparent survives) are ignored, never an error.
   */
  private callerContext(headers: TraceHeaders): Context {
    const { traceparent, tracestate } = headers;
    if (traceparent === undefined || traceparent.length > MAX_TRACEPARENT_CHARS) return ROOT_CONTEXT;
    const carrier: TraceHeaders = {
      traceparent,
      tracestate: tracestate !== undefined && tracestate.length <= MAX_TRACESTATE_CHARS ? tracestate : undefined,
    };
    return this.propagator.extract(ROOT_CONTEXT, carrier, headerGetter);
  }
}

/** One RPC's server span. */
export class RpcSpan {
  constructor(
    private readonly span: Span,
    private readonly context: Context,
    private readonly system: "grpc" | "connect_rpc",
    private readonly recordNames: boolean,
  ) {}

  run<T>(work: () => T): T {
    return context.with(this.context, work);
  }

  end(outcome: RpcOutcome): void {
    const { span } = this;
    const attributes: Attributes = {};
    if (this.system === "grpc") attributes["rpc.grpc.status_code"] = outcome.code;
    else if (outcome.code !== OK) attributes["rpc.connect_rpc.error_code"] = statusName(outcome.code).toLowerCase();
    if (outcome.identity !== undefined) attributes["enduser.id"] = outcome.identity;
    if (this.recordNames) {
      if (outcome.teamId)
        attributes["secretgate.team_id"] = isValidTeamId(outcome.teamId) ? outcome.teamId : refused(outcome.teamId);
      if (outcome.names && outcome.names.length > 0) {
        attributes["secretgate.names"] = outcome.names
          .slice(0, MAX_RECORDED_NAMES)
          .map((name) => (secretNameProblem(stripEnvReference(name)) === undefined ? name : refused(name)));
      }
    }
    const { read } = outcome;
    if (read) {
      attributes["secretgate.read.names"] = read.names;
      attributes["secretgate.read.found"] = read.found;
      attributes["secretgate.read.from_cache"] = read.fromCache;
      if (read.stale > 0) attributes["secretgate.read.stale"] = read.stale;
      // Every name answered from the cache: the back end was not asked.
      attributes["cache.hit"] = read.names > 0 && read.fromCache === read.names;
    }
    span.setAttributes(attributes);
    if (SERVER_FAULTS.has(outcome.code))
      span.setStatus({ code: SpanStatusCode.ERROR, message: statusName(outcome.code as Code) });
    span.end();
  }
}

/**
 * A name or team id the service would refuse, as a span holds it (as audit records do): its size
 * and digest, never what was sent, which may be anything a caller pasted.
 */
function refused(text: string): string {
  const digest = digestOf(text);
  return `(refused: ${digest.bytes} bytes, sha256 ${digest.sha256})`;
}

function outcomeName(outcome: Outcome): string {
  return outcome === OK ? "OK" : statusName(outcome);
}

/** Back-end failures reach here as ServiceErrors already; anything else counts as UNKNOWN. */
function codeOf(error: unknown): Outcome {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" && code > 0 ? (code as Code) : Code.Unknown;
}
