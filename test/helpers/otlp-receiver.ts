import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import protobuf from "protobufjs";

/** A span as the receiver decoded it, from either encoding. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, unknown>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  links: Array<{ traceId: string; spanId: string }>;
  resource: Record<string, unknown>;
}

export interface ReceivedExport {
  contentType: string;
  headers: IncomingHttpHeaders;
  /** The request body as it arrived: scanned whole for what must never be exported. */
  body: Buffer;
}

// The OTLP trace messages this receiver reads, with the field numbers of opentelemetry-proto's
// collector/trace/v1, trace/v1, resource/v1 and common/v1 (fields it does not read are skipped
// as unknown, as any protobuf reader skips them).
const OTLP_TRACE_SCHEMA = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { repeated Span spans = 2; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; repeated KeyValue attributes = 9; repeated Link links = 13; Status status = 15;
}
message Link { bytes trace_id = 1; bytes span_id = 2; }
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; }
}
message ArrayValue { repeated AnyValue values = 1; }
`;
const ExportTraceServiceRequest = protobuf
  .parse(OTLP_TRACE_SCHEMA, { keepCase: false })
  .root.lookupType("otlp.ExportTraceServiceRequest");

const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * An OTLP/HTTP collector on 127.0.0.1 for tests: accepts POST /v1/traces in `http/protobuf` and
 * `http/json`, keeps every request's bytes and headers, and decodes the spans.
 */
export class OtlpReceiver {
  readonly exports: ReceivedExport[] = [];
  readonly spans: ReceivedSpan[] = [];
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    readonly endpoint: string,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    let receiver: OtlpReceiver | undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      request.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) request.destroy();
        else chunks.push(chunk);
      });
      request.on("end", () => {
        const contentType = request.headers["content-type"] ?? "";
        if (request.method !== "POST" || request.url !== "/v1/traces") {
          response.writeHead(404).end();
          return;
        }
        const body = Buffer.concat(chunks);
        try {
          receiver!.accept({ contentType, headers: request.headers, body });
        } catch (error) {
          response.writeHead(400, { "content-type": "text/plain" }).end(String(error));
          return;
        }
        // An empty ExportTraceServiceResponse: full success.
        if (contentType === "application/json")
          response.writeHead(200, { "content-type": "application/json" }).end("{}");
        else response.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    receiver = new OtlpReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return receiver;
  }

  /** Every byte the collector was sent, as text (protobuf strings are UTF-8 on the wire). */
  allBytes(): string {
    return Buffer.concat(this.exports.map((received) => received.body)).toString("utf8");
  }

  /** Waits until a span matching `predicate` arrived; spans come in batches, after the batch delay. */
  async waitFor(predicate: (span: ReceivedSpan) => boolean, timeoutMs = 15_000): Promise<ReceivedSpan> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.spans.find(predicate);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no such span within ${timeoutMs} ms; received: ${this.spans.map((span) => span.name).join(", ") || "none"}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(received: ReceivedExport): void {
    const spans =
      received.contentType === "application/json"
        ? fromJson(JSON.parse(received.body.toString("utf8")))
        : fromProtobuf(received.body);
    this.exports.push(received);
    this.spans.push(...spans);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

interface AnyValueObject {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: AnyValueObject[] };
}

function anyValue(value: AnyValueObject | undefined): unknown {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(anyValue);
  return undefined;
}

function attributes(list: Array<{ key: string; value?: AnyValueObject }> | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, anyValue(value)]));
}

interface SpanObject {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind?: number;
  attributes?: Array<{ key: string; value?: AnyValueObject }>;
  links?: Array<{ traceId: string; spanId: string }>;
  status?: { code?: number; message?: string };
}

interface RequestObject {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string; value?: AnyValueObject }> };
    scopeSpans?: Array<{ spans?: SpanObject[] }>;
  }>;
}

/** Both encodings normalized: ids as lower-case hex. */
function normalize(request: RequestObject, id: (value: string) => string): ReceivedSpan[] {
  return (request.resourceSpans ?? []).flatMap((resourceSpans) => {
    const resource = attributes(resourceSpans.resource?.attributes);
    return (resourceSpans.scopeSpans ?? []).flatMap((scope) =>
      (scope.spans ?? []).map((span) => ({
        traceId: id(span.traceId),
        spanId: id(span.spanId),
        parentSpanId: span.parentSpanId ? id(span.parentSpanId) : "",
        traceState: span.traceState ?? "",
        name: span.name,
        kind: span.kind ?? 0,
        attributes: attributes(span.attributes),
        status: { code: span.status?.code ?? 0, message: span.status?.message ?? "" },
        links: (span.links ?? []).map((link) => ({ traceId: id(link.traceId), spanId: id(link.spanId) })),
        resource,
      })),
    );
  });
}

// OTLP/JSON carries ids as hex strings; protobufjs hands bytes over as base64 here.
function fromJson(request: RequestObject): ReceivedSpan[] {
  return normalize(request, (hex) => hex.toLowerCase());
}

function fromProtobuf(body: Buffer): ReceivedSpan[] {
  const message = ExportTraceServiceRequest.decode(body);
  const object = ExportTraceServiceRequest.toObject(message, {
    longs: String,
    bytes: String,
    defaults: false,
    oneofs: false,
  }) as RequestObject;
  return normalize(object, (base64) => Buffer.from(base64, "base64").toString("hex"));
}
