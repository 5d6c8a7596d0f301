import { ConfigError } from "../config/config-error.js";
import type { Env } from "../config/env.js";
import { OTLP_PROTOCOLS, type OtlpProtocol, type ServerSettings } from "../config/schema.js";

const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** Where spans go and how they are sampled and batched, from `secretgate.tracing` and the standard OTEL_* variables. */
export interface TracingSettings {
  /** The OTLP/HTTP traces URL (…/v1/traces). */
  url: URL;
  /** Where the URL came from, for messages: a config key or a variable name. */
  urlSource: string;
  protocol: OtlpProtocol;
  sampler: { name: SamplerName; ratio: number };
  batch: {
    scheduledDelayMillis?: number;
    exportTimeoutMillis?: number;
    maxQueueSize?: number;
    maxExportBatchSize?: number;
  };
  recordNames: boolean;
}

// OpenTelemetry's default OTLP/HTTP collector address.
const DEFAULT_ENDPOINT = "http://localhost:4318";
const TRACES_PATH = "v1/traces";

/**
 * Tracing is on when `secretgate.tracing` is set or an OTLP endpoint variable is
 * (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT), unless OTEL_SDK_DISABLED is
 * "true" or OTEL_TRACES_EXPORTER is "none"; undefined when it is off. A value in
 * `secretgate.tracing` wins over its variable. Values the service cannot use are ConfigErrors
 * naming the variable, never echoing the value (an endpoint may carry credentials).
 */
export function tracingSettings(configured: ServerSettings["tracing"], env: Env): TracingSettings | undefined {
  const tracesEndpoint = set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const endpoint = set(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (configured === undefined && tracesEndpoint === undefined && endpoint === undefined) return undefined;
  if (set(env.OTEL_SDK_DISABLED)?.toLowerCase() === "true" || set(env.OTEL_TRACES_EXPORTER)?.toLowerCase() === "none")
    return undefined;

  const [url, urlSource] =
    configured?.endpoint !== undefined
      ? [withTracesPath(configured.endpoint, "secretgate.tracing.endpoint"), "secretgate.tracing.endpoint"]
      : tracesEndpoint !== undefined
        ? [httpUrl(tracesEndpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        : [
            withTracesPath(endpoint ?? DEFAULT_ENDPOINT, "OTEL_EXPORTER_OTLP_ENDPOINT"),
            endpoint !== undefined ? "OTEL_EXPORTER_OTLP_ENDPOINT" : "the default endpoint",
          ];
  return {
    url,
    urlSource,
    protocol: configured?.protocol ?? protocolFrom(env),
    sampler: samplerFrom(env),
    batch: {
      ...count(env, "OTEL_BSP_SCHEDULE_DELAY", "scheduledDelayMillis", 0),
      ...count(env, "OTEL_BSP_EXPORT_TIMEOUT", "exportTimeoutMillis", 1),
      ...count(env, "OTEL_BSP_MAX_QUEUE_SIZE", "maxQueueSize", 1),
      ...count(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "maxExportBatchSize", 1),
    },
    recordNames: configured?.record_names ?? false,
  };
}

/** A variable's value, with empty meaning unset (as the OpenTelemetry specification has it). */
function set(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function httpUrl(value: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${source} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ConfigError(`${source} must be an http:// or https:// URL (OTLP/HTTP)`);
  return url;
}

/** A base endpoint with the traces path appended, as the OTLP exporter specification appends it. */
function withTracesPath(value: string, source: string): URL {
  const base = httpUrl(value, source);
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  base.pathname += TRACES_PATH;
  return base;
}

function protocolFrom(env: Env): OtlpProtocol {
  for (const variable of ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] as const) {
    const value = set(env[variable]);
    if (value === undefined) continue;
    if ((OTLP_PROTOCOLS as readonly string[]).includes(value)) return value as OtlpProtocol;
    throw new ConfigError(
      `${variable}: ${JSON.stringify(value)} is not supported; use ` +
        `${OTLP_PROTOCOLS.join(" or ")} (OTLP over gRPC is not)`,
    );
  }
  return "http/protobuf";
}

function samplerFrom(env: Env): TracingSettings["sampler"] {
  const name = set(env.OTEL_TRACES_SAMPLER)?.toLowerCase() ?? "parentbased_always_on";
  if (!(SAMPLERS as readonly string[]).includes(name)) {
    throw new ConfigError(
      `OTEL_TRACES_SAMPLER: ${JSON.stringify(name)} is not supported; use one of ${SAMPLERS.join(", ")}`,
    );
  }
  const argument = set(env.OTEL_TRACES_SAMPLER_ARG);
  const ratio = argument === undefined || !name.endsWith("traceidratio") ? 1 : Number(argument);
  if (!(ratio >= 0 && ratio <= 1))
    throw new ConfigError("OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1 (the share of traces sampled)");
  return { name: name as SamplerName, ratio };
}

function count<K extends keyof TracingSettings["batch"]>(
  env: Env,
  variable: string,
  key: K,
  minimum: number,
): Partial<Record<K, number>> {
  const value = set(env[variable]);
  if (value === undefined) return {};
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum)
    throw new ConfigError(`${variable}: must be a whole number of at least ${minimum}`);
  return { [key]: number } as Partial<Record<K, number>>;
}
