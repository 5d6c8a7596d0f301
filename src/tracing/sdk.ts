import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { ExportResultCode, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter as JsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtobufTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { detectResources, envDetector, type Resource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import type { Logger } from "pino";
import type { TracingSettings } from "./settings.js";
import { Tracing } from "./tracing.js";

/**
 * The OpenTelemetry SDK and OTLP exporters. Imported (dynamically, by src/app.ts) only when
 * tracing is on: a server without it never loads them.
 */
export interface RunningTracing {
  tracing: Tracing;
  /** Exports the spans still queued, then stops (bounded: a collector that does not answer cannot hold up shutdown). */
  shutdown(): Promise<void>;
}

const SHUTDOWN_WAIT_MS = 5_000;

/** Starts exporting spans over OTLP/HTTP as `settings` say. */
export function startTracing(settings: TracingSettings, logger: Logger): RunningTracing {
  // The exporters read the rest of their settings (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
  // _COMPRESSION, _CERTIFICATE, …) from the environment themselves.
  const options = { url: settings.url.href };
  const exporter =
    settings.protocol === "http/json" ? new JsonTraceExporter(options) : new ProtobufTraceExporter(options);
  const running = createTracing({
    spanProcessors: [new BatchSpanProcessor({ exporter: reportingFailures(exporter, logger), ...settings.batch })],
    sampler: samplerFor(settings.sampler),
    resource: serviceResource(),
    recordNames: settings.recordNames,
  });
  // The endpoint's origin only: its user info, path or query may carry credentials.
  logger.info(
    {
      protocol: settings.protocol,
      collector: settings.url.origin,
      endpointFrom: settings.urlSource,
      sampler: settings.sampler.name,
    },
    "tracing on: exporting spans over OTLP/HTTP",
  );
  return running;
}

/**
 * A Tracing on its own tracer provider. The provider is not registered globally, so only
 * secretgate's spans are recorded (a library instrumenting itself through the global API records
 * nothing, and cannot put a secret's name in a span of its own). OpenTelemetry's ContextManager is global:
 * it carries each RPC's span across its awaits to the back-end calls made for it.
 */
export function createTracing(options: {
  spanProcessors: SpanProcessor[];
  sampler?: Sampler;
  resource?: Resource;
  recordNames: boolean;
}): RunningTracing {
  const provider = new TracerProvider({
    spanProcessors: options.spanProcessors,
    ...(options.sampler ? { sampler: options.sampler } : {}),
    ...(options.resource ? { resource: options.resource } : {}),
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const tracing = new Tracing(provider.getTracer("secretgate"), new W3CTraceContextPropagator(), options.recordNames);
  return {
    tracing,
    shutdown: async () => {
      await Promise.race([
        provider.shutdown(),
        new Promise((resolve) => setTimeout(resolve, SHUTDOWN_WAIT_MS).unref()),
      ]);
      context.disable();
    },
  };
}

function samplerFor({ name, ratio }: TracingSettings["sampler"]): Sampler {
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(ratio);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

/** service.name "secretgate", unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise. */
function serviceResource(): Resource {
  return resourceFromAttributes({ "service.name": "secretgate" }).merge(detectResources({ detectors: [envDetector] }));
}

/**
 * Logs when exports start failing and when they recover, once each (not once per batch while a
 * collector is down), with the failure's status or error code only: an exporter's messages may
 * quote the endpoint, and its headers may hold an API key.
 */
function reportingFailures(exporter: SpanExporter, logger: Logger): SpanExporter {
  let failing = false;
  return {
    export: (spans, done) =>
      exporter.export(spans, (result) => {
        if (result.code === ExportResultCode.SUCCESS) {
          if (failing) logger.info("trace export recovered");
          failing = false;
        } else if (!failing) {
          failing = true;
          const code = (result.error as { code?: unknown } | undefined)?.code;
          logger.warn(
            { code: typeof code === "number" || typeof code === "string" ? code : "unknown", spans: spans.length },
            "trace export failed; spans are dropped until the collector answers",
          );
        }
        done(result);
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}
