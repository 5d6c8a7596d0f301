import { mkdtempSync } from "node:fs";
import { type ClientHttp2Session, connect as http2Connect, constants as http2Constants } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
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
import { Code } from "../../../../src/core/errors.js";
import { listenerErrorCell } from "../../../../src/metrics/metrics.js";
import { Dispatcher } from "../../../../src/server/dispatcher.js";
import { type GrpcListener, startGrpcListener } from "../../../../src/server/grpc-listener.js";
import type { FaultKind } from "../../../../src/server/listener-faults.js";
import { fakeWrite, readResult, sharedRead, unimplemented } from "../../../helpers/fake-secret-service.js";
import {
  CLIENT_START,
  data,
  envelope,
  FrameType,
  grpcRequestFields,
  headers,
  parseFrames,
} from "../../../helpers/http2-frames.js";
import { memoryLogDestination } from "../../../helpers/log-destination.js";
import { exchange } from "../../../helpers/raw-socket.js";

/**
 * The gRPC port answers the service's unary calls itself (src/server/fast-path/grpc-unary-calls.ts), not
 * through grpc-js. grpc-js is the reference: two listeners share one dispatcher, one serving every
 * call through grpc-js (`grpcJsOnly`), and each call below goes to both. Their answers must be the
 * same — headers in order (but Date), message bytes, trailers, how the stream ended — and so must
 * the audit records and the listener fault counts the call left.
 */
const TOKEN = "grpc-unary-calls-test-token-0123456789";
const RPC = "/secretgate.v1.SecretService";
const MAX_MESSAGE_BYTES = 64 * 1024;

/** Calls of the fake service still waiting, by name: HANG answers when told to (or never). */
const hanging: Array<() => void> = [];
let announceHanging: (() => void) | undefined;

const fakeService = {
  ...unimplemented(SecretService),
  read(request: ReadRequest, call: AuthorizedCall): unknown {
    const name = request.names[0] ?? "";
    const shared = sharedRead(name, call);
    if (shared !== undefined) return shared;
    switch (name) {
      case "PEER":
        return readResult(name, `${call.peer.replace(/:\d+$/, "")} ${call.credentials.authorization ?? "none"}`);
      case "HANG":
        return new Promise((resolve) => {
          hanging.push(() => resolve(readResult(name, "late")));
          announceHanging?.();
        });
      default:
        return readResult(name, `value-of-${name}`);
    }
  },
  write: fakeWrite,
} as unknown as ServiceImplementation<typeof SecretService>;

const auditLines: string[] = [];
let auditLog: AuditLog;
let reference: GrpcListener;
let direct: GrpcListener;
/** The same pair, where bodies still arriving may hold only 8 KiB together, for 300 ms. */
let tight: { reference: GrpcListener; direct: GrpcListener };

beforeAll(async () => {
  const { authenticator } = Authenticator.create({
    settings: { tokens: [], mtls_identities: [] } as never,
    adminTokenEnv: TOKEN,
    dataDir: mkdtempSync(join(tmpdir(), "secretgate-grpc-unary-calls-")),
    insecureNoAuth: false,
  });
  const logger = pino({ level: "silent" });
  auditLog = new AuditLog({
    file: undefined,
    stdout: memoryLogDestination((bytes) => auditLines.push(...bytes.toString("utf8").split("\n").filter(Boolean))),
  });
  const dispatcher = new Dispatcher(
    { secrets: fakeService, admin: unimplemented(AdminService) },
    authenticator,
    auditLog,
    logger,
  );
  const common = {
    address: "127.0.0.1:0",
    dispatcher,
    maxMessageBytes: MAX_MESSAGE_BYTES,
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
  reference = await startGrpcListener({ ...common, grpcJsOnly: true });
  direct = await startGrpcListener(common);
  const tightCommon = {
    ...common,
    limits: { ...common.limits, maxArrivingBodyBytes: 8 * 1024, bodyTimeoutMs: 300 },
  };
  tight = {
    reference: await startGrpcListener({ ...tightCommon, grpcJsOnly: true }),
    direct: await startGrpcListener(tightCommon),
  };
});
afterAll(async () => {
  for (const session of sessions.values()) session.destroy();
  for (const listener of [reference, direct, tight?.reference, tight?.direct]) listener?.destroy();
});

interface Answer {
  /** Response headers in the order received, Date left out (the status among them). */
  headers: Array<[string, string]>;
  message: string;
  trailers: Array<[string, string]>;
  /** How the stream ended: the RST_STREAM code the client saw (0 for a stream ended normally). */
  rstCode: number | undefined;
}

interface Request {
  path?: string;
  headers?: Record<string, string>;
  /** The body, sent as one DATA frame, or in pieces (each its own write, a few ms apart). */
  body?: Buffer | Buffer[];
  /** Leave the request open after the body (no END_STREAM). */
  open?: boolean;
}

const sessions = new Map<string, ClientHttp2Session>();

/** One request on one session per listener, as a gRPC client sends it. */
function call(address: string, request: Request): Promise<Answer> {
  let session = sessions.get(address);
  if (!session || session.closed || session.destroyed) {
    session = http2Connect(`http://${address}`);
    session.on("error", () => undefined);
    sessions.set(address, session);
  }
  return new Promise((resolve) => {
    const stream = session.request({
      ":method": "POST",
      ":path": request.path ?? `${RPC}/Read`,
      "content-type": "application/grpc",
      te: "trailers",
      ...request.headers,
    });
    const answer: Answer = { headers: [], message: "", trailers: [], rstCode: undefined };
    const chunks: Buffer[] = [];
    stream.on("response", (received) => {
      answer.headers = Object.entries(received)
        .filter(([name]) => name !== "date")
        .map(([name, value]) => [name, String(value)]);
    });
    stream.on("trailers", (trailers) => {
      answer.trailers = Object.entries(trailers).map(([name, value]) => [name, String(value)]);
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => undefined);
    stream.on("close", () => {
      answer.message = Buffer.concat(chunks).toString("base64");
      answer.rstCode = stream.rstCode;
      resolve(answer);
    });
    const pieces = Array.isArray(request.body) ? request.body : [request.body ?? Buffer.alloc(0)];
    void (async () => {
      for (const [index, piece] of pieces.entries()) {
        if (index > 0) await new Promise((resolve) => setTimeout(resolve, 5));
        if (stream.closed) return;
        if (index === pieces.length - 1 && !request.open) stream.end(piece);
        else stream.write(piece);
      }
    })();
  });
}

const FAULT_KINDS: FaultKind[] = ["handler", "body_timeout", "response_error", "request_error"];

/** What one call left behind: its answer, the audit records it wrote (time, duration and client port aside) and the faults it counted. */
async function observe(
  send: () => Promise<Answer | undefined>,
): Promise<{ answer: Answer | undefined; audit: unknown[]; faults: Record<string, number> }> {
  const auditBefore = auditLines.length;
  const faultsBefore = FAULT_KINDS.map((kind) => listenerErrorCell("grpc", kind).value);
  const answer = await send();
  auditLog.flush();
  const audit = auditLines.slice(auditBefore).map((line) => {
    const { time, ms, peer, ...record } = JSON.parse(line) as Record<string, unknown>;
    return { ...record, peer: String(peer).replace(/:\d+$/, "") };
  });
  const faults = Object.fromEntries(
    FAULT_KINDS.map((kind, index) => [kind, listenerErrorCell("grpc", kind).value - faultsBefore[index]!]),
  );
  return { answer, audit, faults };
}

/** Sends one request to both listeners; the direct path must answer as grpc-js does. */
async function expectSameAnswers(
  label: string,
  request: Request,
  listeners: { reference: GrpcListener; direct: GrpcListener } = { reference, direct },
): Promise<Answer> {
  const expected = await observe(() => call(listeners.reference.address, request));
  const actual = await observe(() => call(listeners.direct.address, request));
  expect(actual, label).toEqual(expected);
  return actual.answer!;
}

const auth = { authorization: `Bearer ${TOKEN}` };
const readMessage = (name: string) =>
  Buffer.from(toBinary(ReadRequestSchema, create(ReadRequestSchema, { names: [name] })));
const read = (name: string, extra: Record<string, string> = {}): Request => ({
  headers: { ...auth, ...extra },
  body: envelope(readMessage(name)),
});
const status = (answer: Answer) =>
  [...answer.headers, ...answer.trailers].find(([name]) => name === "grpc-status")?.[1];

describe("the direct gRPC unary path answers as grpc-js does", () => {
  it("a Read answered at once, later, and a large one; a Write; both content types grpc-js names", async () => {
    for (const name of ["CACHED", "ASYNC", "BIG", "PEER"]) {
      await expectSameAnswers(name, read(name));
      await expectSameAnswers(
        `${name}, application/grpc+proto`,
        read(name, { "content-type": "application/grpc+proto" }),
      );
    }
    const write = create(WriteRequestSchema, { name: "OPENAI_API_KEY", value: "sk-test-value-123456" });
    await expectSameAnswers("Write", {
      path: `${RPC}/Write`,
      headers: auth,
      body: envelope(Buffer.from(toBinary(WriteRequestSchema, write))),
    });
    // The comparison is worth something only if the answers are real ones.
    const answer = await expectSameAnswers("CACHED again", read("CACHED"));
    expect(status(answer)).toBe("0");
    expect(Buffer.from(answer.message, "base64").toString("latin1")).toContain("value-of-CACHED");
    const peer = await expectSameAnswers("PEER again", read("PEER"));
    expect(Buffer.from(peer.message, "base64").toString("latin1")).toContain(`127.0.0.1 Bearer ${TOKEN}`);
  });

  it("every status code, from a throw and from a rejection, with a message that needs escaping, and an empty one", async () => {
    for (let code = 1; code <= 16; code++) {
      for (const name of [`CODE_${code}`, `ASYNC_CODE_${code}`]) await expectSameAnswers(name, read(name));
    }
    for (const name of ["EMPTY_MESSAGE", "BUG"]) await expectSameAnswers(name, read(name));
    const answer = await expectSameAnswers("ASYNC_CODE_7 again", read("ASYNC_CODE_7"));
    expect(answer.headers).toContainEqual(["grpc-status", "7"]);
    const { audit } = await observe(() => call(direct.address, read("ASYNC_CODE_7")));
    expect(audit).toEqual([
      expect.objectContaining({
        identity: "admin",
        method: "Read",
        protocol: "grpc",
        outcome: "PERMISSION_DENIED",
        names: ["ASYNC_CODE_7"],
      }),
    ]);
  });

  it("a status grpc-js cannot write (a bug of ours) is logged and answered INTERNAL, as grpc-js's handler does", async () => {
    const expected = await observe(() => call(reference.address, read("LONE_SURROGATE")));
    const actual = await observe(() => call(direct.address, read("LONE_SURROGATE")));
    expect(actual).toEqual(expected);
    expect(expected.faults.handler).toBe(1);
    expect(status(expected.answer!)).toBe(String(Code.Internal));
  });

  it("unauthenticated callers, and an authorization grpc-js would not read (not printable ASCII)", async () => {
    for (const authorization of [undefined, "Bearer wrong-token", "Basic abc", `Bearer ${TOKEN}\u00e9`]) {
      await expectSameAnswers(`authorization ${authorization}`, {
        headers: authorization === undefined ? {} : { authorization },
        body: envelope(readMessage("CACHED")),
      });
    }
  });

  it("timeouts: grpc-timeout becomes the call's deadline; one grpc-js cannot read it refuses itself", async () => {
    // Not "0m": whether grpc-js's own timer or the answer comes first is a race there.
    for (const timeout of ["60S", "2M", "1H", "5000m", "100000u", "1X", "123456789S", "S", "99999999H"]) {
      await expectSameAnswers(`grpc-timeout ${timeout}`, read("DEADLINE", { "grpc-timeout": timeout }));
    }
    const answer = await expectSameAnswers("a minute", read("DEADLINE", { "grpc-timeout": "60S" }));
    expect(Buffer.from(answer.message, "base64").toString("latin1")).toContain("60");
  });

  it("a call still running at its deadline is answered DEADLINE_EXCEEDED, and its late answer dropped", async () => {
    const past = (address: string) => async () => {
      const answer = await call(address, read("HANG", { "grpc-timeout": "50m" }));
      for (const resolve of hanging.splice(0)) resolve();
      return answer;
    };
    const expected = await observe(past(reference.address));
    const actual = await observe(past(direct.address));
    expect(actual).toEqual(expected);
    expect(status(expected.answer!)).toBe(String(Code.DeadlineExceeded));
  });

  it("a caller that cancels mid-call is answered nothing; the call's record is written as it ends", async () => {
    const cancel = (address: string) => async (): Promise<undefined> => {
      const session = http2Connect(`http://${address}`);
      session.on("error", () => undefined);
      const waiting = new Promise<void>((resolve) => {
        announceHanging = resolve;
      });
      const stream = session.request({
        ":method": "POST",
        ":path": `${RPC}/Read`,
        "content-type": "application/grpc",
        ...auth,
      });
      stream.on("error", () => undefined);
      stream.end(envelope(readMessage("HANG")));
      await waiting;
      stream.close(http2Constants.NGHTTP2_CANCEL);
      await new Promise((resolve) => stream.on("close", resolve));
      for (const resolve of hanging.splice(0)) resolve();
      await new Promise((resolve) => setTimeout(resolve, 50));
      session.close();
      return undefined;
    };
    const expected = await observe(cancel(reference.address));
    const actual = await observe(cancel(direct.address));
    expect(actual).toEqual(expected);
    expect(expected.audit).toEqual([expect.objectContaining({ method: "Read", outcome: "OK" })]);
  });

  it("framing grpc-js does not expect: none, part of one, two messages, one too large, a compressed flag without an encoding", async () => {
    const message = readMessage("CACHED");
    const cases: Array<[string, Buffer | Buffer[]]> = [
      ["no message", Buffer.alloc(0)],
      ["three bytes of a prefix", Buffer.from([0, 0, 0])],
      ["a prefix and part of its message", envelope(message).subarray(0, 8)],
      ["two messages", Buffer.concat([envelope(message), envelope(message)])],
      ["two messages in two frames", [envelope(message), envelope(message)]],
      ["a message, then part of another", Buffer.concat([envelope(message), Buffer.from([0, 0])])],
      ["an empty message", envelope(Buffer.alloc(0))],
      ["one over max_message_bytes", envelope(Buffer.alloc(16), 0, MAX_MESSAGE_BYTES + 1)],
      ["one over max_message_bytes after a message", [envelope(message), envelope(Buffer.alloc(4), 0, 1 << 30)]],
      ["compressed flag, no grpc-encoding", envelope(message, 1)],
      ["not protobuf", envelope(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))],
      [
        "the prefix byte by byte, then the message",
        [...[...envelope(message)].slice(0, 5).map((byte) => Buffer.from([byte])), message],
      ],
      [
        "the message in three pieces",
        [envelope(message).subarray(0, 3), envelope(message).subarray(3, 9), envelope(message).subarray(9)],
      ],
    ];
    for (const [label, body] of cases) await expectSameAnswers(label, { headers: auth, body });
    const [, tooLarge] = cases.find(([label]) => label === "one over max_message_bytes")!;
    expect(status(await expectSameAnswers("too large again", { headers: auth, body: tooLarge }))).toBe(
      String(Code.ResourceExhausted),
    );
  });

  it("calls grpc-js serves: other content types and encodings, an unknown method, a streaming one", async () => {
    const message = readMessage("CACHED");
    const cases: Array<[string, Request]> = [
      ["grpc+json", { headers: { ...auth, "content-type": "application/grpc+json" }, body: envelope(message) }],
      ["application/json", { headers: { ...auth, "content-type": "application/json" }, body: envelope(message) }],
      ["gzip", { headers: { ...auth, "grpc-encoding": "gzip" }, body: envelope(gzipSync(message), 1) }],
      ["identity", { headers: { ...auth, "grpc-encoding": "identity" }, body: envelope(message) }],
      ["zstd", { headers: { ...auth, "grpc-encoding": "zstd" }, body: envelope(message, 1) }],
      ["unknown method", { path: `${RPC}/Nope`, headers: auth, body: envelope(message) }],
    ];
    for (const [label, request] of cases) await expectSameAnswers(label, request);
  });

  it("the listener's bounds on bodies still arriving: refused past the bytes, cancelled past the time, both audited", async () => {
    const big = create(WriteRequestSchema, { name: "BIG_VALUE", value: "x".repeat(20_000) });
    const bytes = envelope(Buffer.from(toBinary(WriteRequestSchema, big)));
    const answer = await expectSameAnswers(
      "past max_arriving_body_bytes",
      {
        path: `${RPC}/Write`,
        headers: auth,
        body: [bytes.subarray(0, 4000), bytes.subarray(4000, 12000), bytes.subarray(12000)],
      },
      tight,
    );
    expect(status(answer)).toBe(String(Code.ResourceExhausted));
    const slow = await expectSameAnswers(
      "past body_timeout_ms",
      { headers: auth, body: envelope(readMessage("CACHED")).subarray(0, 8), open: true },
      tight,
    );
    expect(status(slow)).toBe(String(Code.DeadlineExceeded));
    const unended = await expectSameAnswers(
      "the whole message without END_STREAM, past body_timeout_ms",
      { headers: auth, body: envelope(readMessage("CACHED")), open: true },
      tight,
    );
    expect(status(unended)).toBe(String(Code.DeadlineExceeded));
    const { audit } = await observe(() =>
      call(tight.direct.address, { headers: auth, body: envelope(readMessage("CACHED")).subarray(0, 8), open: true }),
    );
    expect(audit).toEqual([expect.objectContaining({ method: "Read", outcome: "DEADLINE_EXCEEDED" })]);
  });

  it("a whole message whose request has not ended still counts against max_arriving_body_bytes until it ends", async () => {
    // The message is held until the request ends (grpc-js keeps it for the handler until half-close): left
    // uncounted, streams each holding one whole message and never ending could hold max_message_bytes apiece.
    const write = (name: string) =>
      envelope(
        Buffer.from(toBinary(WriteRequestSchema, create(WriteRequestSchema, { name, value: "x".repeat(5000) }))),
      );
    const answers = async (address: string) => {
      const held = call(address, { path: `${RPC}/Write`, headers: auth, body: write("HELD"), open: true });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = await call(address, { path: `${RPC}/Write`, headers: auth, body: write("SECOND") });
      return { second, held: await held };
    };
    const expected = await answers(tight.reference.address);
    expect(status(expected.second), "the second message, past the bound with the first").toBe(
      String(Code.ResourceExhausted),
    );
    expect(status(expected.held), "the request that never ended").toBe(String(Code.DeadlineExceeded));
    expect(await answers(tight.direct.address)).toEqual(expected);
  });

  it("the same frames on the wire: headers, one DATA frame holding the message, trailers ending the stream", async () => {
    const framesOf = async (address: string) => {
      const fields = grpcRequestFields(`${RPC}/Read`, { extra: [["authorization", `Bearer ${TOKEN}`]] });
      const { received } = await exchange({ address }, [
        Buffer.concat([CLIENT_START, headers(1, fields), data(1, envelope(readMessage("CACHED")))]),
      ]);
      return parseFrames(received)
        .filter((frame) => frame.streamId === 1)
        .map((frame) => ({
          type: frame.type,
          flags: frame.flags,
          ...(frame.type === FrameType.DATA ? { payload: frame.payload.toString("hex") } : {}),
        }));
    };
    const expected = await framesOf(reference.address);
    expect(await framesOf(direct.address)).toEqual(expected);
    expect(expected.map((frame) => frame.type)).toEqual([FrameType.HEADERS, FrameType.DATA, FrameType.HEADERS]);
  });
});
