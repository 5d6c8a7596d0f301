import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { CachedDriver } from "../../../src/core/cached-driver.js";
import { Code } from "../../../src/core/errors.js";
import type { DriverCall } from "../../../src/drivers/driver.js";
import { LocalDriver } from "../../../src/providers/local/driver.js";
import { SecretDatabase } from "../../../src/storage/database.js";
import { createTracing, type RunningTracing } from "../../../src/tracing/sdk.js";
import { tracingSettings } from "../../../src/tracing/settings.js";
import { cachedDriverSettings, TTL_MS } from "../../helpers/cached-driver-settings.js";
import { InstrumentedDriver } from "../../helpers/instrumented-driver.js";

const settings = cachedDriverSettings({ retryBudgetRatio: 1, breakerFailureThreshold: 50 });
const logger = pino({ level: "silent" });
const call = (): DriverCall => ({ team: {}, signal: AbortSignal.timeout(5_000) });

describe("back-end call spans (Backend with an in-memory exporter)", () => {
  const exporter = new InMemorySpanExporter();
  let running: RunningTracing;
  let dataDir: string;
  let database: SecretDatabase;
  let driver: InstrumentedDriver;
  let backend: CachedDriver;

  beforeAll(() => {
    running = createTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })], recordNames: false });
  });
  afterAll(() => running.shutdown());
  beforeEach(() => {
    exporter.reset();
    dataDir = mkdtempSync(join(tmpdir(), "secretgate-tracing-"));
    database = SecretDatabase.open({ dataDir, masterKeyEnv: undefined }).database;
    driver = new InstrumentedDriver(new LocalDriver(database));
    backend = new CachedDriver(driver, driver.capabilities, "test", settings, logger, undefined, running.tracing);
  });
  afterEach(() => {
    vi.useRealTimers();
    database.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const spans = () => exporter.getFinishedSpans();

  it("is a client span under the active one, counting the retries that got it through", async () => {
    await driver.store.write({ name: "RETRIED", value: { text: "sk-retried-value" }, tags: {} });
    driver.failNext(Code.Unavailable, 2);
    const parent = running.tracing.startRpc("grpc", "secretgate.v1.SecretService", "Read", {});
    const read = await parent.run(() => backend.read("RETRIED", call(), { bypassCache: false }));
    expect(read.value?.text).toBe("sk-retried-value");
    const [span] = spans();
    expect(span).toMatchObject({
      name: "test read",
      kind: SpanKind.CLIENT,
      attributes: {
        "secretgate.backend.name": "test",
        "secretgate.backend.operation": "read",
        "secretgate.backend.outcome": "OK",
        "secretgate.backend.retries": 2,
      },
    });
    expect(span!.parentSpanContext?.spanId).toBeDefined();
    expect(span!.attributes).not.toHaveProperty("secretgate.name");
    expect(JSON.stringify(span!.attributes)).not.toContain("RETRIED");
  });

  it("ends with the failure's code, as an error, when the retries run out", async () => {
    driver.failNext(Code.Unavailable, Infinity);
    await expect(backend.read("DOWN", call(), { bypassCache: false })).rejects.toMatchObject({
      code: Code.Unavailable,
    });
    const [span] = spans();
    expect(span!.attributes).toMatchObject({
      "secretgate.backend.outcome": "UNAVAILABLE",
      "secretgate.backend.retries": 2,
    });
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: "UNAVAILABLE" });
  });

  it("marks a write, a delete of nothing and a list by their operation and outcome", async () => {
    await backend.write({ name: "W", value: { text: "sk-written-value" }, tags: {} }, call());
    await backend.delete("NEVER", false, call());
    await backend.list(call());
    expect(spans().map((span) => [span.name, span.attributes["secretgate.backend.outcome"]])).toEqual([
      ["test write", "OK"],
      ["test delete", "NOT_FOUND"],
      ["test list", "OK"],
    ]);
    expect(spans().every((span) => span.status.code === SpanStatusCode.UNSET)).toBe(true);
  });

  it("traces a refresh ahead of expiry as its own trace, linked to the call that set it off", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    await driver.store.write({ name: "HOT", value: { text: "v1" }, tags: {} });
    await backend.read("HOT", call(), { bypassCache: false });
    exporter.reset();
    vi.setSystemTime(Date.now() + TTL_MS * 0.96);
    const rpc = running.tracing.startRpc("grpc", "secretgate.v1.SecretService", "Read", {});
    const triggering = rpc.run(() => trace.getSpanContext(context.active())!);
    const hit = rpc.run(() => backend.readCached("HOT", call(), { bypassCache: false }));
    expect(hit?.fromCache).toBe(true);
    for (let i = 0; i < 200 && !spans().some((span) => span.name === "secretgate refresh"); i++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    const refresh = spans().find((span) => span.name === "secretgate refresh")!;
    expect(refresh.parentSpanContext).toBeUndefined();
    expect(refresh.spanContext().traceId).not.toBe(triggering.traceId);
    expect(refresh.links.map((link) => link.context.spanId)).toEqual([triggering.spanId]);
    const version = spans().find((span) => span.name === "test version")!;
    expect(version.parentSpanContext?.spanId).toBe(refresh.spanContext().spanId);
  });
});

describe("tracingSettings", () => {
  const collector = "http://collector.internal:4318";

  it("is off unless secretgate.tracing or an OTLP endpoint variable is set", () => {
    expect(tracingSettings(undefined, {})).toBeUndefined();
    expect(tracingSettings(undefined, { OTEL_SERVICE_NAME: "x", OTEL_TRACES_SAMPLER: "always_on" })).toBeUndefined();
    expect(tracingSettings({ record_names: false }, {})?.url.href).toBe("http://localhost:4318/v1/traces");
  });

  it("honours OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none", () => {
    expect(
      tracingSettings(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: collector, OTEL_SDK_DISABLED: "true" }),
    ).toBeUndefined();
    expect(tracingSettings({ record_names: true }, { OTEL_TRACES_EXPORTER: "none" })).toBeUndefined();
  });

  it("takes the traces endpoint as it is and appends v1/traces to the base one; the config file wins", () => {
    expect(tracingSettings(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: `${collector}/otlp` })?.url.href).toBe(
      `${collector}/otlp/v1/traces`,
    );
    expect(
      tracingSettings(undefined, {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector}/custom`,
      })?.url.href,
    ).toBe(`${collector}/custom`);
    const configured = tracingSettings(
      { endpoint: "https://traces.example:4318/", record_names: false },
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector}/custom` },
    );
    expect(configured).toMatchObject({ urlSource: "secretgate.tracing.endpoint" });
    expect(configured?.url.href).toBe("https://traces.example:4318/v1/traces");
  });

  it("reads the protocol, the sampler and the batch settings from the standard variables", () => {
    const settings = tracingSettings(undefined, {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.25",
      OTEL_BSP_SCHEDULE_DELAY: "200",
      OTEL_BSP_MAX_QUEUE_SIZE: "4096",
    });
    expect(settings).toMatchObject({
      protocol: "http/json",
      sampler: { name: "parentbased_traceidratio", ratio: 0.25 },
      batch: { scheduledDelayMillis: 200, maxQueueSize: 4096 },
      recordNames: false,
    });
    expect(
      tracingSettings({ protocol: "http/protobuf", record_names: false }, { OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })
        ?.protocol,
    ).toBe("http/protobuf");
    expect(tracingSettings(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: collector })).toMatchObject({
      protocol: "http/protobuf",
      sampler: { name: "parentbased_always_on" },
    });
  });
});
