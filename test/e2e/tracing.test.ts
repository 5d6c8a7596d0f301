import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { TracerProvider } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSecretClient } from "../../clients/typescript/src/index.js";
import { ReadRequestSchema, type ReadResponse, ReadResponseSchema } from "../../gen/secretgate/v1/secret_service_pb.js";
import { OtlpReceiver } from "../helpers/otlp-receiver.js";
import { ROOT, TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";

const VAULT = { key_management_system: "hashicorp_vault", key_management_settings: { access_mode: "read_and_write" } };
const RECORD_MODULES = pathToFileURL(join(ROOT, "test", "helpers", "record-modules.mjs")).href;
const READ = "secretgate.v1.SecretService/Read";
const SERVER = 2;
const CLIENT = 3;

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
/** A caller's span context, as its traceparent says. */
const callerSpan = () => {
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
};
const secretName = () => `trace-${randomUUID().slice(0, 12)}`;
const secretValue = () => `sk-${hex(20)}`;

/** Starts a server whose module loads are recorded (see record-modules.mjs). */
async function startRecorded(
  options: Parameters<typeof TestServer.start>[0],
): Promise<{ server: TestServer; modules: () => string[] }> {
  const file = join(mkdtempSync(join(tmpdir(), "secretgate-modules-")), "modules.txt");
  const server = await TestServer.start({
    ...options,
    nodeArgs: ["--import", RECORD_MODULES],
    env: { ...options?.env, SECRETGATE_TEST_MODULES_FILE: file },
  });
  return { server, modules: () => readFileSync(file, "utf8").split("\n") };
}

/** The server span of a call the test made, found by the trace it belongs to. */
const serverSpanOf = (receiver: OtlpReceiver, traceId: string) =>
  receiver.waitFor((span) => span.traceId === traceId && span.kind === SERVER);

/**
 * Reads over the gRPC listener with grpc-js itself, so the metadata is exactly what the test
 * says: a header given twice is sent twice.
 */
function grpcRead(
  address: string,
  token: string,
  names: string[],
  metadata: Array<[string, string]>,
): Promise<ReadResponse> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const sent = new grpc.Metadata();
  sent.add("authorization", `Bearer ${token}`);
  for (const [key, value] of metadata) sent.add(key, value);
  return new Promise<ReadResponse>((resolve, reject) => {
    client.makeUnaryRequest(
      `/${READ}`,
      (message: Uint8Array) => Buffer.from(message),
      (bytes: Buffer) => fromBinary(ReadResponseSchema, bytes),
      toBinary(ReadRequestSchema, create(ReadRequestSchema, { names })),
      sent,
      { deadline: Date.now() + 10_000 },
      (error, response) => (error ? reject(error) : resolve(response!)),
    );
  }).finally(() => client.close());
}

/** Reads over Connect JSON on HTTP/1.1, with each header line as given (repeats included). */
function jsonRead(
  address: string,
  token: string,
  names: string[],
  headers: Record<string, string | string[]>,
): Promise<{ status: number; body: any }> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(":")),
    Number(address.slice(address.lastIndexOf(":") + 1)),
  ];
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host, port, method: "POST", path: `/${READ}` }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) }),
      );
    });
    request.on("error", reject);
    request.setHeader("content-type", "application/json");
    request.setHeader("authorization", `Bearer ${token}`);
    for (const [key, value] of Object.entries(headers)) request.setHeader(key, value);
    request.end(JSON.stringify({ names }));
  });
}

describe("tracing over OTLP http/protobuf, configured by OTEL_* variables, against Vault", () => {
  let receiver: OtlpReceiver;
  let bed: VaultTestBed;
  let server: TestServer;
  let modules: () => string[];
  // The collector's API key: sent to the collector, never logged.
  const apiKey = `otlp-key-${hex(16)}`;
  const written = new Map<string, string>();

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    bed = await startVaultTestBed();
    ({ server, modules } = await startRecorded({
      config: { general_settings: VAULT },
      env: {
        ...bed.env("token"),
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${apiKey}`,
        OTEL_BSP_SCHEDULE_DELAY: "50",
        OTEL_SERVICE_NAME: "secretgate-under-test",
      },
    }));
    server.sensitive.add(apiKey);
    for (let index = 0; index < 2; index++) {
      const [name, value] = [secretName(), secretValue()];
      await server.grpc.write({ name, value });
      written.set(name, value);
    }
  });
  afterAll(async () => {
    await server?.stop();
    await bed?.close();
    await receiver?.close();
  });

  it("over gRPC: the server span continues the caller's trace, with a back-end span for Vault under it", async () => {
    const [name, value] = [...written][0]!;
    const caller = callerSpan();
    const { results } = await server.grpc.read(
      { names: [name] },
      { headers: { traceparent: caller.traceparent, tracestate: "vendor=opaque" } },
    );
    expect(results[0]).toMatchObject({ found: true, value, fromCache: false });

    const rpc = await serverSpanOf(receiver, caller.traceId);
    expect(rpc).toMatchObject({
      name: READ,
      parentSpanId: caller.spanId,
      traceState: "vendor=opaque",
      attributes: {
        "rpc.system": "grpc",
        "rpc.service": "secretgate.v1.SecretService",
        "rpc.method": "Read",
        "rpc.grpc.status_code": 0,
        "enduser.id": "admin",
        "secretgate.read.names": 1,
        "secretgate.read.found": 1,
        "secretgate.read.from_cache": 0,
        "cache.hit": false,
      },
      resource: { "service.name": "secretgate-under-test" },
    });
    const backend = receiver.spans.find((span) => span.parentSpanId === rpc.spanId);
    expect(backend).toMatchObject({
      traceId: caller.traceId,
      name: "hashicorp_vault read",
      kind: CLIENT,
      attributes: {
        "secretgate.backend.name": "hashicorp_vault",
        "secretgate.backend.operation": "read",
        "secretgate.backend.outcome": "OK",
        "secretgate.backend.retries": 0,
      },
    });
    // The back-end span ended first, so it was exported with or before its parent.
    expect(receiver.spans.indexOf(backend!)).toBeLessThan(receiver.spans.indexOf(rpc));
  });

  it("a cached Read is a cache hit, with no back-end span", async () => {
    const [name] = [...written][0]!;
    const caller = callerSpan();
    const { results } = await server.grpc.read({ names: [name] }, { headers: { traceparent: caller.traceparent } });
    expect(results[0]?.fromCache).toBe(true);
    const rpc = await serverSpanOf(receiver, caller.traceId);
    expect(rpc.attributes).toMatchObject({ "cache.hit": true, "secretgate.read.from_cache": 1 });
    expect(receiver.spans.filter((span) => span.traceId === caller.traceId)).toEqual([rpc]);
  });

  it("over Connect: the server span continues the caller's trace (rpc.system connect_rpc)", async () => {
    const name = [...written][1]![0];
    const caller = callerSpan();
    const response = await server.json("Read", { names: [name] }, { traceparent: caller.traceparent });
    expect(response.body.results[0]).toMatchObject({ found: true });
    const rpc = await serverSpanOf(receiver, caller.traceId);
    expect(rpc).toMatchObject({
      name: READ,
      parentSpanId: caller.spanId,
      attributes: { "rpc.system": "connect_rpc", "rpc.method": "Read", "enduser.id": "admin" },
    });
    expect(rpc.attributes).not.toHaveProperty("rpc.connect_rpc.error_code");
    const backend = receiver.spans.find((span) => span.parentSpanId === rpc.spanId);
    expect(backend).toMatchObject({ name: "hashicorp_vault read", attributes: { "secretgate.backend.outcome": "OK" } });
  });

  it("records failures by their code: a missing secret's Delete, and a caller without a valid token", async () => {
    const caller = callerSpan();
    await expect(
      server.grpc.delete({ name: "trace-never-written" }, { headers: { traceparent: caller.traceparent } }),
    ).rejects.toThrow(/does not exist/);
    const rpc = await serverSpanOf(receiver, caller.traceId);
    expect(rpc.attributes).toMatchObject({ "rpc.method": "Delete", "rpc.grpc.status_code": 5 });
    // NOT_FOUND is the caller's answer, not the server's failure.
    expect(rpc.status.code).toBe(0);
    const backend = receiver.spans.find((span) => span.parentSpanId === rpc.spanId);
    expect(backend?.attributes).toMatchObject({
      "secretgate.backend.operation": "delete",
      "secretgate.backend.outcome": "NOT_FOUND",
    });

    const anonymous = callerSpan();
    const unauthenticated = await server.json(
      "Read",
      { names: ["x"] },
      { traceparent: anonymous.traceparent, authorization: "Bearer not-a-token-at-all" },
    );
    expect(unauthenticated.status).toBe(401);
    const refused = await serverSpanOf(receiver, anonymous.traceId);
    expect(refused.attributes).toMatchObject({ "rpc.connect_rpc.error_code": "unauthenticated" });
    expect(refused.attributes).not.toHaveProperty("enduser.id");
  });

  it("the TypeScript client propagates the caller's active span", async () => {
    const contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
    try {
      const tracer = new TracerProvider().getTracer("caller");
      const client = createSecretClient(`http://${server.grpcAddress}`, { token: server.token! });
      const [name] = [...written][1]!;
      const caller = await tracer.startActiveSpan("caller", async (span) => {
        await client.read({ names: [name] });
        span.end();
        return span.spanContext();
      });
      const rpc = await serverSpanOf(receiver, caller.traceId);
      expect(rpc).toMatchObject({ name: READ, parentSpanId: caller.spanId });
    } finally {
      context.disable();
    }
  });

  it("exports no secret name, value, token or team settings, and sends the collector its headers", async () => {
    const exported = receiver.allBytes();
    expect(exported.length).toBeGreaterThan(0);
    for (const [name, value] of written) {
      expect(exported).not.toContain(name);
      expect(exported).not.toContain(value);
    }
    expect(exported).not.toContain(server.token);
    expect(exported).not.toContain(apiKey);
    expect(
      receiver.exports.every(
        (received) => received.contentType === "application/x-protobuf" && received.headers["x-api-key"] === apiKey,
      ),
    ).toBe(true);
  }, 30_000);

  it("loads the OpenTelemetry SDK (the server without tracing below does not)", async () => {
    // The list is written as the process exits.
    await server.stop();
    expect(modules().some((url) => url.includes("/node_modules/@opentelemetry/sdk-trace/"))).toBe(true);
  });
});

describe("tracing configured by secretgate.tracing: http/json, record_names, hostile traceparents", () => {
  let receiver: OtlpReceiver;
  let server: TestServer;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    server = await TestServer.start({
      config: { secretgate: { tracing: { endpoint: receiver.endpoint, protocol: "http/json", record_names: true } } },
      env: { OTEL_BSP_SCHEDULE_DELAY: "50" },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await receiver?.close();
  });

  /** The server span that names `name` (record_names is on). */
  const spanNaming = (name: string) =>
    receiver.waitFor(
      (span) =>
        span.kind === SERVER && (span.attributes["secretgate.names"] as string[] | undefined)?.includes(name) === true,
    );

  it("names secrets and teams (never values or team settings), exported as OTLP/JSON", async () => {
    const [name, value] = [secretName(), secretValue()];
    const teamSettings = { prefix: `inline-${hex(8)}/` };
    await server.grpc.write({ name, value, teamId: "team-traced", teamSettings, virtualKey: true });
    const write = await spanNaming(name);
    expect(write.attributes).toMatchObject({
      "rpc.method": "Write",
      "secretgate.team_id": "team-traced",
      "secretgate.names": [name],
    });
    const backend = receiver.spans.find((span) => span.parentSpanId === write.spanId);
    expect(backend).toMatchObject({
      name: "local write",
      attributes: { "secretgate.name": `${teamSettings.prefix}${name}`, "secretgate.backend.outcome": "OK" },
    });
    const exported = receiver.allBytes();
    expect(exported).not.toContain(value);
    expect(exported).not.toContain('"prefix"');
    expect(JSON.stringify(receiver.spans)).not.toContain(value);
    expect(receiver.exports.every((received) => received.contentType === "application/json")).toBe(true);
  });

  it("a name the service refuses appears as its size and digest, not as sent", async () => {
    const pasted = `sk-live-${hex(12)}\n`;
    await server.grpc.read({ names: [pasted, "trace-marker-refused"] });
    const span = await spanNaming("trace-marker-refused");
    const names = span.attributes["secretgate.names"] as string[];
    expect(names[0]).toMatch(/^\(refused: \d+ bytes, sha256 [0-9a-f]{12}\)$/);
    expect(receiver.allBytes()).not.toContain(pasted.trim());
  });

  const valid = callerSpan();
  it.each([
    ["malformed", { traceparent: "00-not-a-trace-context-01" }],
    ["all-zero trace id", { traceparent: `00-${"0".repeat(32)}-${valid.spanId}-01` }],
    ["version ff", { traceparent: `ff-${valid.traceId}-${valid.spanId}-01` }],
    [
      "oversized (a later version's fields, 4 KiB of them)",
      { traceparent: `01-${valid.traceId}-${valid.spanId}-01-${"a".repeat(4096)}` },
    ],
    ["repeated", { traceparent: [valid.traceparent, callerSpan().traceparent] }],
    [
      "oversized tracestate only (the traceparent still counts)",
      { traceparent: valid.traceparent, tracestate: `vendor=${"b".repeat(4096)}` },
    ],
  ])("ignores a %s traceparent over both listeners: the call succeeds", async (kind, headers) => {
    const keepsParent = kind.startsWith("oversized tracestate");
    const metadata = Object.entries(headers).flatMap(([key, value]) =>
      (Array.isArray(value) ? value : [value]).map((one): [string, string] => [key, one]),
    );

    const grpcMarker = `trace-marker-grpc-${randomUUID().slice(0, 8)}`;
    const answer = await grpcRead(server.grpcAddress, server.token!, [grpcMarker], metadata);
    expect(answer.results[0]?.error?.status).toBe("NOT_FOUND");
    const httpMarker = `trace-marker-http-${randomUUID().slice(0, 8)}`;
    const response = await jsonRead(server.httpAddress, server.token!, [httpMarker], headers);
    expect(response.status).toBe(200);

    for (const marker of [grpcMarker, httpMarker]) {
      const span = await spanNaming(marker);
      if (keepsParent) {
        expect(span).toMatchObject({ traceId: valid.traceId, parentSpanId: valid.spanId, traceState: "" });
      } else {
        expect(span.parentSpanId).toBe("");
        expect(span.traceId).not.toBe(valid.traceId);
      }
    }
  });

  it("does not load the SDK into a server without tracing", async () => {
    const { server: plain, modules } = await startRecorded({});
    try {
      await plain.grpc.read({ names: ["anything"] });
    } finally {
      await plain.stop();
    }
    const loaded = modules();
    // The list is real: the server's own modules are in it.
    expect(loaded.some((url) => url.includes("/node_modules/@grpc/grpc-js/"))).toBe(true);
    expect(loaded.some((url) => url.endsWith("/dist/src/app.js"))).toBe(true);
    expect(
      loaded.filter(
        (url) =>
          /\/node_modules\/@opentelemetry\/(sdk-|exporter-|otlp-|context-async-hooks)/.test(url) ||
          url.includes("/dist/src/tracing/sdk.js"),
      ),
    ).toEqual([]);
  });
});

describe("tracing settings at start-up", () => {
  it.each([
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" },
      /OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported/,
    ],
    [
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "not a url with a s3cr3t" },
      /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not a URL/,
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1", OTEL_TRACES_SAMPLER: "jaeger_remote" },
      /OTEL_TRACES_SAMPLER: "jaeger_remote" is not supported/,
    ],
    [
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1",
        OTEL_TRACES_SAMPLER: "traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "1.5",
      },
      /OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1/,
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1", OTEL_BSP_SCHEDULE_DELAY: "soon" },
      /OTEL_BSP_SCHEDULE_DELAY: must be a whole number/,
    ],
  ])("refuses %o, naming the variable (never echoing an endpoint)", async (env, message) => {
    const { code, stderr } = await TestServer.startExpectingFailure({ env });
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).not.toContain("s3cr3t");
  });

  it("refuses a secretgate.tracing endpoint that is not an http(s) URL", async () => {
    const { code, stderr } = await TestServer.startExpectingFailure({
      config: { secretgate: { tracing: { endpoint: "ftp://collector" } } },
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(/secretgate\.tracing\.endpoint: must be an http:\/\/ or https:\/\/ URL/);
  });
});
