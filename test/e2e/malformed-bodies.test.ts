import { connect as http2Connect, constants as http2Constants } from "node:http2";
import { brotliCompressSync, gzipSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope } from "../helpers/http2-frames.js";
import { TestServer } from "../helpers/server.js";

/**
 * Every malformed request body is INVALID_ARGUMENT (issue 14), on every protocol, content-type
 * spelling and encoding, with a message that names the problem and an audit record of the refusal.
 * One table per protocol; each case is one call against a real server process.
 */
const RPC = "/secretgate.v1.SecretService";
const read = Buffer.from([0x0a, 0x04, ...Buffer.from("NAME")]); // ReadRequest{names: ["NAME"]}
const junk = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]); // a field longer than the message
const notGzip = Buffer.from("definitely not gzip");

interface Answer {
  /** gRPC status code (Connect's code string mapped to it). */
  code: number;
  message: string;
}

const CONNECT_CODES: Record<string, number> = {
  invalid_argument: 3,
  unimplemented: 12,
  resource_exhausted: 8,
  internal: 13,
  unknown: 2,
};

let server: TestServer;
beforeAll(async () => {
  server = await TestServer.start({ env: { SECRETGATE_LOG_LEVEL: "info" } });
});
afterAll(async () => {
  await server?.stop();
});

/** The audit records written so far with this outcome. */
function auditRecords(outcome: string): Array<Record<string, unknown>> {
  return server.logLines
    .filter((line) => line.includes('"audit":true'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record.outcome === outcome);
}

/** Waits until one more audit record with `outcome` than `before` has been written; returns it. */
async function nextAuditRecord(outcome: string, before: number): Promise<Record<string, unknown> | undefined> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const records = auditRecords(outcome);
    if (records.length > before) return records[records.length - 1];
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}

/** A POST over HTTP/1.1 (fetch); gRPC-Web trailers are read from the body's trailer envelope. */
async function overHttp1(
  path: string,
  contentType: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`http://${server.httpAddress}${path}`, {
    method: "POST",
    headers: { "content-type": contentType, authorization: `Bearer ${server.token}`, ...headers },
    body,
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  if (/^application\/grpc-web/i.test(contentType)) {
    const status = response.headers.get("grpc-status");
    if (status !== null)
      return { code: Number(status), message: decodeURIComponent(response.headers.get("grpc-message") ?? "") };
    let offset = 0;
    while (offset + 5 <= bytes.length) {
      const length = bytes.readUInt32BE(offset + 1);
      if (bytes[offset]! & 0x80) {
        const trailer = bytes.subarray(offset + 5, offset + 5 + length).toString("utf8");
        const fields = Object.fromEntries(
          trailer
            .split("\r\n")
            .filter(Boolean)
            .map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
        );
        return { code: Number(fields["grpc-status"]), message: decodeURIComponent(fields["grpc-message"] ?? "") };
      }
      offset += 5 + length;
    }
    return { code: -1, message: `no trailers (HTTP ${response.status})` };
  }
  const json = JSON.parse(bytes.toString("utf8") || "{}") as { code?: string; message?: string };
  return { code: response.ok ? 0 : (CONNECT_CODES[json.code ?? ""] ?? -1), message: json.message ?? "" };
}

/** A gRPC call over HTTP/2 with raw bytes as its body, to either port. */
function overHttp2(
  address: string,
  path: string,
  contentType: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://${address}`);
    session.on("error", reject);
    const stream = session.request({
      [http2Constants.HTTP2_HEADER_METHOD]: "POST",
      [http2Constants.HTTP2_HEADER_PATH]: path,
      "content-type": contentType,
      te: "trailers",
      authorization: `Bearer ${server.token}`,
      ...headers,
    });
    let status: Record<string, unknown> = {};
    stream.on("response", (responseHeaders) => {
      if (responseHeaders["grpc-status"] !== undefined) status = responseHeaders;
    });
    stream.on("trailers", (trailers) => {
      status = trailers;
    });
    stream.on("data", () => {});
    stream.on("close", () => {
      session.close();
      resolve({
        code: Number(status["grpc-status"] ?? -1),
        message: decodeURIComponent(String(status["grpc-message"] ?? "")),
      });
    });
    stream.end(body);
  });
}

interface Case {
  name: string;
  call: () => Promise<Answer>;
  /** A part of the message that names the problem. */
  names: RegExp;
  code?: number;
}

async function expectRefused(cases: Case[]): Promise<void> {
  for (const { name, call, names, code = grpc.status.INVALID_ARGUMENT } of cases) {
    const outcome = code === grpc.status.INVALID_ARGUMENT ? "INVALID_ARGUMENT" : grpc.status[code]!;
    const before = auditRecords(outcome).length;
    const answer = await call();
    expect(answer.code, `${name}: ${answer.message}`).toBe(code);
    expect(answer.message, name).toMatch(names);
    const record = await nextAuditRecord(outcome, before);
    expect(record, `${name}: audit record`).toBeDefined();
    expect(record!.method, name).toBe("Read");
    expect(record!.error, name).toBe(answer.message);
  }
}

const gzip = (bytes: Buffer) => gzipSync(bytes);

describe("malformed bodies on the HTTP port", () => {
  it("Connect: INVALID_ARGUMENT, whatever the content-type spelling and encoding", async () => {
    const connect = (contentType: string, body: Buffer, headers?: Record<string, string>) => () =>
      overHttp1(`${RPC}/Read`, contentType, body, headers);
    await expectRefused([
      {
        name: "binary, odd case",
        call: connect("Application/Proto", junk),
        names: /not a valid secretgate\.v1\.ReadRequest/,
      },
      {
        name: "binary, upper case",
        call: connect("APPLICATION/PROTO", junk),
        names: /not a valid secretgate\.v1\.ReadRequest/,
      },
      {
        name: "binary, gzip, corrupt",
        call: connect("application/proto", notGzip, { "content-encoding": "gzip" }),
        names: /not valid gzip/,
      },
      {
        name: "binary, gzip, truncated",
        call: connect("application/proto", gzip(read).subarray(0, 12), { "content-encoding": "gzip" }),
        names: /not valid gzip/,
      },
      {
        name: "binary, gzip of junk",
        call: connect("application/proto", gzip(junk), { "content-encoding": "gzip" }),
        names: /not a valid secretgate\.v1\.ReadRequest/,
      },
      {
        name: "binary, br, corrupt",
        call: connect("application/proto", notGzip, { "content-encoding": "br" }),
        names: /not valid br/,
      },
      {
        name: "JSON, gzip, corrupt",
        call: connect("application/json", notGzip, { "content-encoding": "gzip" }),
        names: /not valid gzip/,
      },
      {
        name: "JSON, odd case and charset, truncated",
        call: connect("Application/JSON; charset=utf-8", Buffer.from('{"names": ["NA')),
        names: /not valid JSON/,
      },
      {
        name: "JSON, wrong type, value not echoed",
        call: connect("application/json", Buffer.from('{"names": "sk-not-a-list-1234"}')),
        names: /secretgate\.v1\.ReadRequest\.names/,
      },
      {
        name: "JSON, not UTF-8",
        call: connect("application/json", Buffer.from([0x7b, 0xff, 0xfe, 0x7d])),
        names: /not valid JSON \(UTF-8\)/,
      },
    ]);
    const leaked = auditRecords("INVALID_ARGUMENT").filter((record) =>
      JSON.stringify(record).includes("sk-not-a-list"),
    );
    expect(leaked).toEqual([]);
  });

  it("Connect: an unknown encoding is UNIMPLEMENTED naming the ones accepted, a body too large RESOURCE_EXHAUSTED, each audited", async () => {
    const bomb = gzip(Buffer.alloc(5 * 1024 * 1024)); // 5 KB on the wire, 5 MiB inflated
    await expectRefused([
      {
        name: "zstd",
        call: () => overHttp1(`${RPC}/Read`, "application/proto", read, { "content-encoding": "zstd" }),
        names: /accepts gzip,br/,
        code: grpc.status.UNIMPLEMENTED,
      },
      {
        name: "over max_message_bytes",
        call: () => overHttp1(`${RPC}/Read`, "application/proto", Buffer.alloc(4 * 1024 * 1024 + 1)),
        names: /larger than max_message_bytes/,
        code: grpc.status.RESOURCE_EXHAUSTED,
      },
      {
        name: "gzip bomb",
        call: () => overHttp1(`${RPC}/Read`, "application/proto", bomb, { "content-encoding": "gzip" }),
        names: /decompresses to more than max_message_bytes/,
        code: grpc.status.RESOURCE_EXHAUSTED,
      },
    ]);
  });

  it("gRPC-Web: INVALID_ARGUMENT for corrupt compression, envelopes that are not exactly one, and bad messages", async () => {
    const web = (contentType: string, body: Buffer, headers?: Record<string, string>) => () =>
      overHttp1(`${RPC}/Read`, contentType, body, headers);
    await expectRefused([
      {
        name: "gzip, corrupt",
        call: web("application/grpc-web", envelope(notGzip, 1), { "grpc-encoding": "gzip" }),
        names: /not valid gzip/,
      },
      {
        name: "gzip of junk",
        call: web("application/grpc-web+proto", envelope(gzip(junk), 1), { "grpc-encoding": "gzip" }),
        names: /not a valid secretgate\.v1\.ReadRequest/,
      },
      {
        name: "br, corrupt",
        call: web("application/grpc-web", envelope(notGzip, 1), { "grpc-encoding": "br" }),
        names: /not valid br/,
      },
      {
        name: "compressed flag, no encoding",
        call: web("application/grpc-web", envelope(read, 1)),
        names: /flagged as compressed/,
      },
      {
        name: "two envelopes",
        call: web("application/grpc-web", Buffer.concat([envelope(read), envelope(read)])),
        names: /more than one message/,
      },
      { name: "no envelope", call: web("application/grpc-web", Buffer.alloc(0)), names: /no message/ },
      {
        name: "truncated envelope",
        call: web("application/grpc-web", envelope(read, 0, 100)),
        names: /ends inside its message/,
      },
      {
        name: "envelope header cut short",
        call: web("application/grpc-web", Buffer.from([0, 0, 0])),
        names: /ends inside an envelope header/,
      },
      {
        name: "trailer flag in a request",
        call: web("application/grpc-web", envelope(read, 0x80)),
        names: /unknown flags \(0x80\)/,
      },
      {
        name: "odd case, junk",
        call: web("Application/gRPC-Web+Proto", envelope(junk)),
        names: /not a valid secretgate\.v1\.ReadRequest/,
      },
      {
        name: "JSON, junk",
        call: web("application/grpc-web+json", envelope(Buffer.from("{nope"))),
        names: /not valid JSON/,
      },
    ]);
  });

  it("gRPC over HTTP/2: INVALID_ARGUMENT for corrupt compression, envelopes that are not exactly one, and bad messages", async () => {
    const call = (contentType: string, body: Buffer, headers?: Record<string, string>) => () =>
      overHttp2(server.httpAddress, `${RPC}/Read`, contentType, body, headers);
    await expectRefused([
      {
        name: "gzip, corrupt",
        call: call("application/grpc", envelope(notGzip, 1), { "grpc-encoding": "gzip" }),
        names: /not valid gzip/,
      },
      {
        name: "two envelopes",
        call: call("application/grpc", Buffer.concat([envelope(read), envelope(read)])),
        names: /more than one message/,
      },
      {
        name: "truncated envelope",
        call: call("application/grpc+proto", envelope(read, 0, 100)),
        names: /ends inside its message/,
      },
      {
        name: "odd case, junk",
        call: call("Application/GRPC", envelope(junk)),
        names: /not a valid secretgate\.v1\.ReadRequest/,
      },
      {
        name: "JSON, junk",
        call: call("application/grpc+json", envelope(Buffer.from("[1,"))),
        names: /not valid JSON/,
      },
    ]);
  });

  it("still serves well-formed compressed requests in every protocol", async () => {
    await server.grpc.write({ name: "NAME", value: "sk-compressed-ok-value" });
    const connectGzip = await fetch(`http://${server.httpAddress}${RPC}/Read`, {
      method: "POST",
      headers: {
        "content-type": "application/proto",
        "content-encoding": "gzip",
        authorization: `Bearer ${server.token}`,
      },
      body: gzip(read),
    });
    expect(connectGzip.status).toBe(200);
    const connectBr = await fetch(`http://${server.httpAddress}${RPC}/Read`, {
      method: "POST",
      headers: {
        "content-type": "Application/JSON",
        "content-encoding": "br",
        authorization: `Bearer ${server.token}`,
      },
      body: brotliCompressSync(Buffer.from('{"names":["NAME"]}')),
    });
    expect(((await connectBr.json()) as { results: Array<{ found: boolean }> }).results[0]!.found).toBe(true);
    expect(
      await overHttp1(`${RPC}/Read`, "application/grpc-web", envelope(gzip(read), 1), { "grpc-encoding": "gzip" }),
    ).toMatchObject({ code: 0 });
    expect(
      await overHttp2(server.httpAddress, `${RPC}/Read`, "application/grpc", envelope(gzip(read), 1), {
        "grpc-encoding": "gzip",
      }),
    ).toMatchObject({ code: 0 });
  });
});

describe("malformed bodies on the gRPC port", () => {
  it("answers a message that does not decode INVALID_ARGUMENT, and audits it", async () => {
    await expectRefused([
      {
        name: "junk",
        call: () => overHttp2(server.grpcAddress, `${RPC}/Read`, "application/grpc", envelope(junk)),
        names: /not a valid secretgate\.v1\.ReadRequest/,
      },
      {
        name: "gzip of junk",
        call: () =>
          overHttp2(server.grpcAddress, `${RPC}/Read`, "application/grpc", envelope(gzip(junk), 1), {
            "grpc-encoding": "gzip",
          }),
        names: /not a valid secretgate\.v1\.ReadRequest/,
      },
    ]);
  });
});
