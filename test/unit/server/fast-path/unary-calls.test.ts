import { mkdtempSync } from "node:fs";
import { type ClientHttp2Session, connect as http2Connect, constants as http2Constants } from "node:http2";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, gunzipSync, gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../../../gen/secretgate/v1/admin_service_pb.js";
import {
  type ReadRequest,
  ReadRequestSchema,
  SecretService,
  WriteRequestSchema,
} from "../../../../gen/secretgate/v1/secret_service_pb.js";
import { AuditLog } from "../../../../src/audit.js";
import { Authenticator } from "../../../../src/auth/authenticator.js";
import type { AuthorizedCall, ServiceImplementation } from "../../../../src/core/call-context.js";
import { ServiceError } from "../../../../src/core/errors.js";
import { listenerErrorCell } from "../../../../src/metrics/metrics.js";
import { Dispatcher } from "../../../../src/server/dispatcher.js";
import { type HttpListener, startHttpListener } from "../../../../src/server/http-listener.js";
import type { FaultKind } from "../../../../src/server/listener-faults.js";
import { fakeWrite, readResult, sharedRead, unimplemented } from "../../../helpers/fake-secret-service.js";
import { CLIENT_START, data, envelope, headers } from "../../../helpers/http2-frames.js";
import { memoryLogDestination } from "../../../helpers/log-destination.js";
import { exchange, splitAddress } from "../../../helpers/raw-socket.js";

/**
 * The HTTP port answers the service's unary Connect and gRPC-Web calls itself (unary-calls.ts),
 * not through connect-node. connect-node is the reference: two listeners share one dispatcher,
 * one serving every call through connect-node, and each call below goes to both, over HTTP/1.1
 * and HTTP/2. Their answers must be the same — status, headers in order (but Date), body bytes,
 * trailers — and so must the audit records and the listener fault counts the call left.
 */
const TOKEN = "unary-calls-test-token-0123456789";
const RPC = "/secretgate.v1.SecretService";

/** What a fake service does for a Read, by the first name asked for. */
const WAITING = new Set<string>();
let announceWaiting: (() => void) | undefined;

function reasonOf(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof ConnectError ? Code[reason.code] : "aborted";
}

const fakeService = {
  ...unimplemented(SecretService),
  read(request: ReadRequest, call: AuthorizedCall): unknown {
    const name = request.names[0] ?? "";
    const shared = sharedRead(name, call);
    if (shared !== undefined) return shared;
    switch (name) {
      case "WAIT":
        // Answers when the call's signal aborts (the deadline passed, or the caller went away).
        WAITING.add(name);
        announceWaiting?.();
        return new Promise((_, reject) => {
          const signal = call.signal!;
          const abort = () =>
            reject(
              new ServiceError(
                signal.reason instanceof ConnectError && signal.reason.code === Code.DeadlineExceeded
                  ? Code.DeadlineExceeded
                  : Code.Canceled,
                `aborted: ${reasonOf(signal)}`,
              ),
            );
          if (signal.aborted) abort();
          else signal.addEventListener("abort", abort);
        });
      default:
        return readResult(name, `value-of-${name}`);
    }
  },
  write: fakeWrite,
} as unknown as ServiceImplementation<typeof SecretService>;

const auditLines: string[] = [];
const auditDestination = memoryLogDestination((bytes) =>
  auditLines.push(...bytes.toString("utf8").split("\n").filter(Boolean)),
);

let auditLog: AuditLog;
let reference: HttpListener;
let direct: HttpListener;
/** The same pair, where bodies still arriving may hold only 8 KiB together. */
let tight: { reference: HttpListener; direct: HttpListener };
const unexpected: string[] = [];

beforeAll(async () => {
  const { authenticator } = Authenticator.create({
    settings: { tokens: [], mtls_identities: [] } as never,
    adminTokenEnv: TOKEN,
    dataDir: mkdtempSync(join(tmpdir(), "secretgate-unary-calls-")),
    insecureNoAuth: false,
  });
  const logger = pino({ level: "error" }, { write: (line: string) => unexpected.push(line) });
  auditLog = new AuditLog({ file: undefined, stdout: auditDestination });
  // The operator RPCs are not what this compares: every call here is a SecretService data call.
  const dispatcher = new Dispatcher(
    { secrets: fakeService, admin: unimplemented(AdminService) },
    authenticator,
    auditLog,
    logger,
  );
  const common = {
    address: "127.0.0.1:0",
    dispatcher,
    maxMessageBytes: 64 * 1024,
    readiness: { check: () => ({ ready: true, body: {} }) },
    limits: {
      headerTimeoutMs: 10_000,
      idleTimeoutMs: 60_000,
      maxConnections: 64,
      maxConnectionsPerPeer: 64,
      maxConcurrentStreams: 100,
      bodyTimeoutMs: 30_000,
      maxArrivingBodyBytes: 64 * 1024 * 1024,
    },
    logger,
  };
  reference = await startHttpListener({ ...common, connectNodeOnly: true });
  direct = await startHttpListener(common);
  const tightCommon = { ...common, limits: { ...common.limits, maxArrivingBodyBytes: 8 * 1024 } };
  tight = {
    reference: await startHttpListener({ ...tightCommon, connectNodeOnly: true }),
    direct: await startHttpListener(tightCommon),
  };
});
afterAll(async () => {
  await Promise.all([reference?.close(), direct?.close(), tight?.reference.close(), tight?.direct.close()]);
});

interface Answer {
  status: number;
  /** Response headers in the order received, Date left out. */
  headers: Array<[string, string]>;
  body: string;
  trailers: Array<[string, string]>;
}

interface Request {
  method?: string;
  path?: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** HTTP/1.1 only: send the body chunked, without a content-length. */
  chunked?: boolean;
}

/** One request over HTTP/1.1 on a connection of its own; the raw response parsed (chunked bodies joined). */
async function overHttp1(address: string, request: Request): Promise<Answer> {
  const body = request.body ?? Buffer.alloc(0);
  const lines = [
    `${request.method ?? "POST"} ${request.path ?? `${RPC}/Read`} HTTP/1.1`,
    "Connection: close",
    ...Object.entries(request.headers).map(([name, value]) => `${name}: ${value}`),
  ];
  if (!("Host" in request.headers) && !("host" in request.headers)) lines.push("Host: localhost");
  lines.push(request.chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${body.length}`);
  const head = Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
  const payload = request.chunked
    ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")])
    : body;
  const { received } = await exchange({ address }, [Buffer.concat([head, payload])], { quietMs: 500, maxMs: 5_000 });
  return parseHttp1(received);
}

function parseHttp1(bytes: Buffer): Answer {
  const end = bytes.indexOf("\r\n\r\n");
  const [statusLine = "", ...headerLines] = bytes.subarray(0, end).toString("latin1").split("\r\n");
  const headers = headerLines.map(
    (line) =>
      [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()] as [string, string],
  );
  let rest = bytes.subarray(end + 4);
  const trailers: Array<[string, string]> = [];
  let body = rest;
  if (headers.some(([name, value]) => name === "transfer-encoding" && value === "chunked")) {
    const chunks: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf("\r\n");
      const size = parseInt(rest.subarray(0, lineEnd).toString("latin1"), 16);
      if (!(size > 0)) {
        const trailerBlock = rest
          .subarray(
            lineEnd + 2,
            rest.indexOf("\r\n\r\n", lineEnd) < 0 ? rest.length : rest.indexOf("\r\n\r\n", lineEnd) + 2,
          )
          .toString("latin1");
        for (const line of trailerBlock.split("\r\n").filter(Boolean))
          trailers.push([line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]);
        break;
      }
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
    body = Buffer.concat(chunks);
  }
  return {
    status: Number(statusLine.split(" ")[1]),
    // Chunk framing is not part of the answer (connect-node writes gRPC-Web's two envelopes as two chunks).
    headers: headers.filter(([name]) => name !== "date"),
    body: body.toString("base64"),
    trailers,
  };
}

const sessions = new Map<string, ClientHttp2Session>();

/** One request over HTTP/2, on one session per listener. */
function overHttp2(address: string, request: Request): Promise<Answer> {
  let session = sessions.get(address);
  if (!session || session.closed || session.destroyed) {
    session = http2Connect(`http://${address}`);
    session.on("error", () => undefined);
    sessions.set(address, session);
  }
  return new Promise((resolve) => {
    const stream = session.request({
      ":method": request.method ?? "POST",
      ":path": request.path ?? `${RPC}/Read`,
      ...lowerCased(request.headers),
    });
    const answer: Answer = { status: 0, headers: [], body: "", trailers: [] };
    const chunks: Buffer[] = [];
    stream.on("response", (headers) => {
      answer.status = Number(headers[":status"]);
      answer.headers = Object.entries(headers)
        .filter(([name]) => !name.startsWith(":") && name !== "date")
        .map(([name, value]) => [name, String(value)]);
    });
    stream.on("trailers", (trailers) => {
      answer.trailers = Object.entries(trailers).map(([name, value]) => [name, String(value)]);
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => undefined);
    stream.on("close", () => {
      answer.body = Buffer.concat(chunks).toString("base64");
      resolve(answer);
    });
    stream.end(request.body ?? Buffer.alloc(0));
  });
}

function lowerCased(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

/** Lets the server notice a connection or stream the test closed (it shares this process). */
function serverSideSettled(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 50));
}

const FAULT_KINDS: FaultKind[] = ["bad_authority", "response_error", "request_error", "handler"];

/** What one call left behind: its answer, the audit records it wrote (time, duration and client port aside) and the faults it counted. */
async function observe(
  call: () => Promise<Answer | undefined>,
): Promise<{ answer: Answer | undefined; audit: unknown[]; faults: Record<string, number> }> {
  const auditBefore = auditLines.length;
  const faultsBefore = FAULT_KINDS.map((kind) => listenerErrorCell("http", kind).value);
  const answer = await call();
  // The server wrote its record before its answer; it is flushed on the next turn of the event loop.
  auditLog.flush();
  const audit = auditLines.slice(auditBefore).map((line) => {
    const { time, ms, peer, ...record } = JSON.parse(line) as Record<string, unknown>;
    return { ...record, peer: String(peer).replace(/:\d+$/, "") };
  });
  const faults = Object.fromEntries(
    FAULT_KINDS.map((kind, index) => [kind, listenerErrorCell("http", kind).value - faultsBefore[index]!]),
  );
  return { answer, audit, faults };
}

/** Sends one request to both listeners over both HTTP versions; the direct path must answer as connect-node does. */
async function expectSameAnswers(
  label: string,
  request: Request,
  transports: Array<"http1" | "http2"> = ["http1", "http2"],
  listeners: { reference: HttpListener; direct: HttpListener } = { reference, direct },
): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (const transport of transports) {
    const send = transport === "http1" ? overHttp1 : overHttp2;
    const expected = await observe(() => send(listeners.reference.address, request));
    const actual = await observe(() => send(listeners.direct.address, request));
    expect(actual, `${label} over ${transport}`).toEqual(expected);
    expect(expected.faults.handler, `${label} over ${transport}: no unexpected errors`).toBe(0);
    answers.push(actual.answer!);
  }
  return answers;
}

const auth = { authorization: `Bearer ${TOKEN}` };
const readProto = (name: string) =>
  Buffer.from(toBinary(ReadRequestSchema, create(ReadRequestSchema, { names: [name] })));
const readJson = (name: string) => Buffer.from(JSON.stringify({ names: [name] }));

/** A Read of `name` in each unary format the direct path serves. */
function formats(name: string, extra: Record<string, string> = {}): Array<[string, Request]> {
  return [
    ["Connect binary", { headers: { "Content-Type": "application/proto", ...auth, ...extra }, body: readProto(name) }],
    ["Connect JSON", { headers: { "Content-Type": "application/json", ...auth, ...extra }, body: readJson(name) }],
    [
      "gRPC-Web binary",
      { headers: { "Content-Type": "application/grpc-web+proto", ...auth, ...extra }, body: envelope(readProto(name)) },
    ],
    [
      "gRPC-Web JSON",
      { headers: { "Content-Type": "application/grpc-web+json", ...auth, ...extra }, body: envelope(readJson(name)) },
    ],
  ];
}

describe("the direct unary path answers as connect-node does", () => {
  it("a Read answered at once, later, and large enough to compress (when the caller accepts it)", async () => {
    for (const name of ["CACHED", "ASYNC", "BIG"]) {
      for (const [label, request] of formats(name)) await expectSameAnswers(`${label} ${name}`, request);
    }
    const accepts: Array<Record<string, string>> = [
      { "Accept-Encoding": "gzip, br" },
      { "Accept-Encoding": "br" },
      { "Grpc-Accept-Encoding": "gzip" },
      { "Accept-Encoding": "identity, x" },
    ];
    for (const accept of accepts) {
      for (const [label, request] of formats("BIG", accept))
        await expectSameAnswers(`${label} BIG ${JSON.stringify(accept)}`, request);
    }
    // The comparison is worth something only if the answers are real ones.
    const [answer] = await expectSameAnswers(
      "Connect binary, gzip",
      formats("BIG", { "Accept-Encoding": "gzip" })[0]![1],
    );
    expect(answer!.headers).toContainEqual(["content-encoding", "gzip"]);
    expect(gunzipSync(Buffer.from(answer!.body, "base64")).toString("latin1")).toContain("v".repeat(3000));
  });

  it("every status code, from a throw and from a rejection, with a message that needs escaping, and an empty one", async () => {
    for (let code = 1; code <= 16; code++) {
      for (const name of [`CODE_${code}`, `ASYNC_CODE_${code}`]) {
        for (const [label, request] of formats(name)) await expectSameAnswers(`${label} ${name}`, request);
      }
    }
    for (const name of ["EMPTY_MESSAGE", "BUG"]) {
      for (const [label, request] of formats(name)) await expectSameAnswers(`${label} ${name}`, request);
    }
    const [connect] = await expectSameAnswers("Connect binary CODE_7", formats("CODE_7")[0]![1]);
    expect(connect!.status).toBe(403);
    expect(Buffer.from(connect!.body, "base64").toString("utf8")).toContain('"code":"permission_denied"');
    // The records compared are real ones.
    const { audit } = await observe(() => overHttp2(direct.address, formats("ASYNC_CODE_7")[3]![1]));
    expect(audit).toEqual([
      expect.objectContaining({
        identity: "admin",
        method: "Read",
        protocol: "connect",
        outcome: "PERMISSION_DENIED",
        names: ["ASYNC_CODE_7"],
      }),
    ]);
  });

  it("an answer that cannot be written (a bug of ours) is logged and the response cut off, as connect-node does", async () => {
    for (const [label, request] of formats("LONE_SURROGATE")) {
      for (const send of [overHttp1, overHttp2]) {
        const expected = await observe(() => send(reference.address, request));
        const actual = await observe(() => send(direct.address, request));
        expect(actual, label).toEqual(expected);
        expect(expected.faults.handler, label).toBe(label.startsWith("gRPC-Web") ? 1 : 0);
      }
    }
  });

  it("unauthenticated and unauthorized callers", async () => {
    for (const authorization of [undefined, "Bearer wrong-token", "Basic abc", `bearer ${TOKEN}`]) {
      for (const [label, request] of formats("CACHED")) {
        const headers = { ...request.headers };
        delete (headers as Record<string, string | undefined>).authorization;
        if (authorization) headers.authorization = authorization;
        await expectSameAnswers(`${label} authorization ${authorization}`, { ...request, headers });
      }
    }
  });

  it("timeouts: connect-timeout-ms and grpc-timeout become the call's deadline; malformed ones are refused", async () => {
    for (const [label, request] of formats("DEADLINE").slice(0, 2)) {
      for (const timeout of ["60000", "0", "abc", "-5", "1.5", "12345678901", "99999999999"]) {
        await expectSameAnswers(`${label} connect-timeout-ms ${timeout}`, {
          ...request,
          headers: { ...request.headers, "Connect-Timeout-Ms": timeout },
        });
      }
      await expectSameAnswers(`${label} without a timeout`, request);
    }
    for (const [label, request] of formats("DEADLINE").slice(2)) {
      for (const timeout of ["60S", "2M", "1H", "100n", "5u", "0m", "1X", "123456789S", "S", "-1S"]) {
        await expectSameAnswers(`${label} grpc-timeout ${timeout}`, {
          ...request,
          headers: { ...request.headers, "Grpc-Timeout": timeout },
        });
      }
    }
    const [deadline] = await expectSameAnswers("Connect JSON, a minute", {
      ...formats("DEADLINE")[1]![1],
      headers: { ...formats("DEADLINE")[1]![1].headers, "Connect-Timeout-Ms": "60000" },
    });
    expect(Buffer.from(deadline!.body, "base64").toString("utf8")).toContain('"value":"60"');
  });

  it("a call still running at its deadline sees its signal aborted, as with connect-node", async () => {
    for (const [label, request] of formats("WAIT")) {
      const header: Record<string, string> = label.startsWith("Connect")
        ? { "Connect-Timeout-Ms": "50" }
        : { "Grpc-Timeout": "50m" };
      const [answer] = await expectSameAnswers(
        `${label} past its deadline`,
        { ...request, headers: { ...request.headers, ...header } },
        ["http2"],
      );
      expect(decodeURIComponent(Buffer.from(answer!.body, "base64").toString("utf8"))).toContain(
        "aborted: DeadlineExceeded",
      );
    }
  });

  it("a caller that goes away mid-call: the call's signal is aborted, the refusal audited, the answer counted as undeliverable", async () => {
    const cancelOverHttp2 = (address: string) => async (): Promise<undefined> => {
      const session = http2Connect(`http://${address}`);
      session.on("error", () => undefined);
      const waiting = new Promise<void>((resolve) => (announceWaiting = resolve));
      const stream = session.request({
        ":method": "POST",
        ":path": `${RPC}/Read`,
        "content-type": "application/proto",
        ...auth,
      });
      stream.on("error", () => undefined);
      stream.end(readProto("WAIT"));
      await waiting;
      stream.close(http2Constants.NGHTTP2_CANCEL);
      await new Promise((resolve) => stream.on("close", resolve));
      session.close();
      await serverSideSettled();
      return undefined;
    };
    const goAwayOverHttp1 = (address: string) => async (): Promise<undefined> => {
      const waiting = new Promise<void>((resolve) => (announceWaiting = resolve));
      const body = readJson("WAIT");
      const [host, port] = splitAddress(address);
      const socket = netConnect({ host, port });
      socket.on("error", () => undefined);
      socket.write(
        `POST ${RPC}/Read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      socket.write(body);
      await waiting;
      socket.destroy();
      await serverSideSettled();
      return undefined;
    };
    for (const cancel of [cancelOverHttp2, goAwayOverHttp1]) {
      const expected = await observe(cancel(reference.address));
      const actual = await observe(cancel(direct.address));
      expect(actual).toEqual(expected);
      expect(expected.audit).toEqual([
        expect.objectContaining({ method: "Read", outcome: "CANCELED", error: expect.stringMatching(/^aborted/) }),
      ]);
      expect(expected.faults.response_error).toBe(1);
    }
  });

  it("a caller that goes away before its body ended: counted, nothing audited, nothing logged", async () => {
    const cutOff = (address: string, http2: boolean) => async (): Promise<undefined> => {
      const [host, port] = splitAddress(address);
      const socket = netConnect({ host, port });
      socket.on("error", () => undefined);
      await new Promise((resolve) => socket.once("connect", resolve));
      if (http2) {
        const fields: Array<[string, string]> = [
          [":method", "POST"],
          [":scheme", "http"],
          [":path", `${RPC}/Read`],
          [":authority", "x"],
          ["content-type", "application/proto"],
          ["authorization", `Bearer ${TOKEN}`],
        ];
        socket.write(Buffer.concat([CLIENT_START, headers(1, fields), data(1, Buffer.from([0x0a]), false)]));
      } else {
        socket.write(
          `POST ${RPC}/Read HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 100\r\n\r\n\n`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.destroy();
      await serverSideSettled();
      return undefined;
    };
    for (const http2 of [false, true]) {
      const expected = await observe(cutOff(reference.address, http2));
      const actual = await observe(cutOff(direct.address, http2));
      expect(actual, http2 ? "HTTP/2" : "HTTP/1.1").toEqual(expected);
      expect(expected.audit).toEqual([]);
      // A peer's doing, not a bug of ours: counted, and logged at debug only.
      expect(expected.faults).toMatchObject({ handler: 0, request_error: 1 });
    }
  });

  it("every malformed body of test/e2e/malformed-bodies.test.ts, and well-formed compressed ones", async () => {
    const junk = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    const notGzip = Buffer.from("definitely not gzip");
    const read = readProto("CACHED");
    const bomb = gzipSync(Buffer.alloc(5 * 64 * 1024));
    const connect = (contentType: string, body: Buffer, headers: Record<string, string> = {}): Request => ({
      headers: { "Content-Type": contentType, ...auth, ...headers },
      body,
    });
    const cases: Array<[string, Request]> = [
      ["binary, odd case", connect("Application/Proto", junk)],
      ["binary, upper case", connect("APPLICATION/PROTO", junk)],
      ["binary, gzip, corrupt", connect("application/proto", notGzip, { "Content-Encoding": "gzip" })],
      [
        "binary, gzip, truncated",
        connect("application/proto", gzipSync(read).subarray(0, 12), { "Content-Encoding": "gzip" }),
      ],
      ["binary, gzip of junk", connect("application/proto", gzipSync(junk), { "Content-Encoding": "gzip" })],
      ["binary, br, corrupt", connect("application/proto", notGzip, { "Content-Encoding": "br" })],
      ["JSON, gzip, corrupt", connect("application/json", notGzip, { "Content-Encoding": "gzip" })],
      [
        "JSON, odd case and charset, truncated",
        connect("Application/JSON; charset=utf-8", Buffer.from('{"names": ["NA')),
      ],
      ["JSON, wrong type", connect("application/json", Buffer.from('{"names": "sk-not-a-list-1234"}'))],
      ["JSON, unknown field", connect("application/json", Buffer.from('{"names": ["CACHED"], "nope": 1}'))],
      ["JSON, not UTF-8", connect("application/json", Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))],
      [
        "JSON, byte order mark",
        connect("application/json", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readJson("CACHED")])),
      ],
      ["zstd", connect("application/proto", read, { "Content-Encoding": "zstd" })],
      ["empty encoding", connect("application/proto", read, { "Content-Encoding": "" })],
      ["identity", connect("application/proto", read, { "Content-Encoding": "identity" })],
      ["over max_message_bytes", connect("application/proto", Buffer.alloc(64 * 1024 + 1))],
      ["gzip bomb", connect("application/proto", bomb, { "Content-Encoding": "gzip" })],
      ["gzip, well-formed", connect("application/proto", gzipSync(read), { "Content-Encoding": "gzip" })],
      [
        "br, well-formed, JSON",
        connect("Application/JSON", brotliCompressSync(readJson("CACHED")), { "Content-Encoding": "br" }),
      ],
      ["gRPC-Web gzip, corrupt", connect("application/grpc-web", envelope(notGzip, 1), { "Grpc-Encoding": "gzip" })],
      [
        "gRPC-Web gzip of junk",
        connect("application/grpc-web+proto", envelope(gzipSync(junk), 1), { "Grpc-Encoding": "gzip" }),
      ],
      ["gRPC-Web br, corrupt", connect("application/grpc-web", envelope(notGzip, 1), { "Grpc-Encoding": "br" })],
      ["gRPC-Web compressed flag, no encoding", connect("application/grpc-web", envelope(read, 1))],
      ["gRPC-Web two envelopes", connect("application/grpc-web", Buffer.concat([envelope(read), envelope(read)]))],
      ["gRPC-Web no envelope", connect("application/grpc-web", Buffer.alloc(0))],
      ["gRPC-Web truncated envelope", connect("application/grpc-web", envelope(read, 0, 100))],
      ["gRPC-Web envelope header cut short", connect("application/grpc-web", Buffer.from([0, 0, 0]))],
      ["gRPC-Web trailer flag in a request", connect("application/grpc-web", envelope(read, 0x80))],
      ["gRPC-Web odd case, junk", connect("Application/gRPC-Web+Proto", envelope(junk))],
      ["gRPC-Web JSON, junk", connect("application/grpc-web+json", envelope(Buffer.from("{nope")))],
      ["gRPC-Web zstd", connect("application/grpc-web", envelope(read), { "Grpc-Encoding": "zstd" })],
      [
        "gRPC-Web gzip, well-formed",
        connect("application/grpc-web", envelope(gzipSync(read), 1), { "Grpc-Encoding": "gzip" }),
      ],
      ["gRPC-Web gzip, flag not set", connect("application/grpc-web", envelope(read), { "Grpc-Encoding": "gzip" })],
      ["gRPC-Web over max_message_bytes", connect("application/grpc-web", envelope(Buffer.alloc(64 * 1024)))],
    ];
    for (const [label, request] of cases) await expectSameAnswers(label, request);
    // A body over the limit that does not announce its size is refused once it passes it.
    await expectSameAnswers(
      "chunked, over max_message_bytes",
      { ...connect("application/proto", Buffer.alloc(64 * 1024 + 1)), chunked: true },
      ["http1"],
    );
    await expectSameAnswers("chunked, well-formed", { ...connect("application/proto", read), chunked: true }, [
      "http1",
    ]);
  });

  it("a body past what bodies still arriving may hold is refused alike, RESOURCE_EXHAUSTED and audited, and one within it served", async () => {
    const connect = (contentType: string, body: Buffer): Request => ({
      headers: { "Content-Type": contentType, ...auth },
      body,
    });
    const [refused] = await expectSameAnswers(
      "Connect binary, 10 KiB",
      connect("application/proto", Buffer.alloc(10 * 1024, 0x0a)),
      ["http1", "http2"],
      tight,
    );
    expect(refused!.status).toBe(429);
    expect(Buffer.from(refused!.body, "base64").toString("utf8")).toContain("limits.max_arriving_body_bytes");
    await expectSameAnswers(
      "gRPC-Web, 10 KiB",
      connect("application/grpc-web", envelope(Buffer.alloc(10 * 1024, 0x0a))),
      ["http1", "http2"],
      tight,
    );
    await expectSameAnswers(
      "chunked, 10 KiB",
      { ...connect("application/proto", Buffer.alloc(10 * 1024, 0x0a)), chunked: true },
      ["http1"],
      tight,
    );
    const [served] = await expectSameAnswers(
      "Connect binary Read",
      formats("CACHED")[0]![1],
      ["http1", "http2"],
      tight,
    );
    expect(served!.status).toBe(200);
  });

  it("requests for another path, HTTP method or content type go to connect-node alike", async () => {
    const cases: Array<[string, Request]> = [
      [
        "unary GET (no method is marked side-effect free)",
        {
          method: "GET",
          path: `${RPC}/Read?encoding=json&message=${encodeURIComponent('{"names":["CACHED"]}')}`,
          headers: auth,
        },
      ],
      ["PUT", { method: "PUT", headers: { "Content-Type": "application/proto", ...auth }, body: readProto("CACHED") }],
      [
        "a query string",
        {
          path: `${RPC}/Read?x=1`,
          headers: { "Content-Type": "application/proto", ...auth },
          body: readProto("CACHED"),
        },
      ],
      [
        "Connect streaming content type",
        { headers: { "Content-Type": "application/connect+proto", ...auth }, body: envelope(readProto("CACHED")) },
      ],
      [
        "gRPC-Web text",
        {
          headers: { "Content-Type": "application/grpc-web-text", ...auth },
          body: Buffer.from(envelope(readProto("CACHED")).toString("base64")),
        },
      ],
      ["no content type", { headers: auth, body: readProto("CACHED") }],
      ["an unknown content type", { headers: { "Content-Type": "text/plain", ...auth }, body: readProto("CACHED") }],
      [
        "gRPC-Web without a suffix",
        { headers: { "Content-Type": "application/grpc-web", ...auth }, body: envelope(readProto("CACHED")) },
      ],
      [
        "JSON with a charset",
        { headers: { "Content-Type": "application/json; charset=utf-8", ...auth }, body: readJson("CACHED") },
      ],
      [
        "an unknown method",
        { path: `${RPC}/Nope`, headers: { "Content-Type": "application/proto", ...auth }, body: readProto("CACHED") },
      ],
      ["a probe", { method: "GET", path: "/healthz", headers: {} }],
      [
        "Write, binary",
        {
          path: `${RPC}/Write`,
          headers: { "Content-Type": "application/proto", ...auth },
          body: Buffer.from(toBinary(WriteRequestSchema, create(WriteRequestSchema, { name: "KEY", value: "sk-x" }))),
        },
      ],
      [
        "Write, JSON",
        {
          path: `${RPC}/Write`,
          headers: { "Content-Type": "application/json", ...auth },
          body: Buffer.from('{"name":"KEY","value":"sk-x"}'),
        },
      ],
    ];
    for (const [label, request] of cases) await expectSameAnswers(label, request);
  });

  it("a missing, bad or second authority", async () => {
    const raw = (address: string, lines: string[], body: Buffer) => async () => {
      const { received } = await exchange(
        { address },
        [
          Buffer.concat([
            Buffer.from(`${lines.join("\r\n")}\r\nContent-Length: ${body.length}\r\n\r\n`, "latin1"),
            body,
          ]),
        ],
        { quietMs: 500 },
      );
      return parseHttp1(received);
    };
    const body = readJson("CACHED");
    const head = [`POST ${RPC}/Read HTTP/1.0`, "Content-Type: application/json", `Authorization: Bearer ${TOKEN}`];
    for (const hosts of [
      [],
      ["Host: "],
      ["Host: 127.0.0.1", "Host: evil.example"],
      ["Host: evil.example/path"],
      ["Host: user@evil.example"],
    ]) {
      const expected = await observe(raw(reference.address, [...head, ...hosts], body));
      const actual = await observe(raw(direct.address, [...head, ...hosts], body));
      expect(actual, hosts.join(", ")).toEqual(expected);
    }
    for (const [label, request] of formats("CACHED")) {
      await expectSameAnswers(
        `${label}, bad :authority`,
        { ...request, headers: { ...request.headers, ":authority": "evil.example/path" } },
        ["http2"],
      );
    }
  });
});
