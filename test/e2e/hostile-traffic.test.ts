import { gzipSync } from "node:zlib";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";
import { TestCa } from "../helpers/certificates.js";
import {
  CLIENT_START,
  data,
  envelope,
  FrameType,
  frame,
  goaway,
  grpcRequestFields,
  headerBlock,
  headers,
  PREFACE,
  ping,
  rstStream,
  SETTINGS_ACK,
  Setting,
  settings,
  windowUpdate,
} from "../helpers/http2-frames.js";
import { exchange, type RawTarget } from "../helpers/raw-socket.js";
import { TestServer } from "../helpers/server.js";

/**
 * Nothing a caller sends may end the process (issue 14). A corpus of malformed traffic — raw
 * HTTP/1 over TCP and TLS, broken HTTP/2 frames and prefaces, bad compression, truncated
 * envelopes, bad timeouts — goes to both ports of a real server process, batch by batch; after
 * each batch the process must still be running and a valid Read must succeed on both ports.
 * Every exchange is bounded (a few seconds at most), and so is the corpus.
 */
const SENSITIVE = `sk-hostile-${"x".repeat(24)}`;
const RPC = "/secretgate.v1.SecretService";
const SECRET_NAME = "HOSTILE_TRAFFIC_KEY";
const SECRET_VALUE = "sk-hostile-traffic-value-1";

type Case = { name: string; chunks: Array<Buffer | string>; quietMs?: number };

function http1(lines: string[], body = ""): string {
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}

const readJson = JSON.stringify({ names: [SECRET_NAME] });

/** Malformed or unusual HTTP/1.x requests. `auth` is a valid Authorization header line. */
function http1Corpus(auth: string): Case[] {
  const json = (extra: string[], body = readJson, start = `POST ${RPC}/Read HTTP/1.1`) =>
    http1(
      [
        start,
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        auth,
        `Content-Length: ${Buffer.byteLength(body)}`,
        ...extra,
      ],
      body,
    );
  return [
    {
      name: "HTTP/1.0 without Host (the curl -0 -H 'Host:' crash)",
      chunks: [
        http1([`POST ${RPC}/ListHosted HTTP/1.0`, "Content-Type: application/json", auth, "Content-Length: 2"], "{}"),
      ],
    },
    {
      name: "HTTP/1.0 without Host, Read",
      chunks: [
        http1(
          [`POST ${RPC}/Read HTTP/1.0`, "Content-Type: application/json", auth, `Content-Length: ${readJson.length}`],
          readJson,
        ),
      ],
    },
    { name: "HTTP/1.0 without Host, probe", chunks: [http1(["GET /readyz HTTP/1.0"])] },
    {
      name: "HTTP/1.1 without Host",
      chunks: [
        http1(
          [`POST ${RPC}/Read HTTP/1.1`, "Content-Type: application/json", auth, `Content-Length: ${readJson.length}`],
          readJson,
        ),
      ],
    },
    {
      name: "empty Host",
      chunks: [
        http1(
          [
            `POST ${RPC}/Read HTTP/1.1`,
            "Host: ",
            "Content-Type: application/json",
            auth,
            `Content-Length: ${readJson.length}`,
          ],
          readJson,
        ),
      ],
    },
    { name: "two Host headers", chunks: [json(["Host: evil.example"])] },
    {
      name: "Host that is no authority",
      chunks: [
        http1(
          [
            `POST ${RPC}/Read HTTP/1.1`,
            "Host: [::1",
            "Content-Type: application/json",
            auth,
            `Content-Length: ${readJson.length}`,
          ],
          readJson,
        ),
      ],
    },
    {
      name: "Host with spaces and a path",
      chunks: [
        http1(
          [
            `POST ${RPC}/Read HTTP/1.0`,
            "Host: a b/c?d#e",
            "Content-Type: application/json",
            auth,
            `Content-Length: ${readJson.length}`,
          ],
          readJson,
        ),
      ],
    },
    { name: "absolute-form URI", chunks: [json([], readJson, `POST http://evil.example${RPC}/Read HTTP/1.1`)] },
    {
      name: "absolute-form URI that does not parse",
      chunks: [json([], readJson, `POST http://[${RPC}/Read HTTP/1.1`)],
    },
    { name: "asterisk-form URI", chunks: [http1(["OPTIONS * HTTP/1.1", "Host: 127.0.0.1"])] },
    { name: "CONNECT", chunks: [http1(["CONNECT 127.0.0.1:443 HTTP/1.1", "Host: 127.0.0.1:443"])] },
    { name: "TRACE", chunks: [http1([`TRACE ${RPC}/Read HTTP/1.1`, "Host: 127.0.0.1", auth])] },
    { name: "garbage method", chunks: [http1([`F\u0001OO ${RPC}/Read HTTP/1.1`, "Host: 127.0.0.1"])] },
    { name: "lowercase method", chunks: [json([], readJson, `post ${RPC}/Read HTTP/1.1`)] },
    {
      name: "GET on an RPC",
      chunks: [http1([`GET ${RPC}/Read?encoding=json&message=%7B%7D HTTP/1.1`, "Host: 127.0.0.1", auth])],
    },
    { name: "HTTP/0.9 request line", chunks: ["GET /healthz\r\n"] },
    { name: "HTTP/3.0 version", chunks: [http1(["GET /healthz HTTP/3.0", "Host: 127.0.0.1"])] },
    { name: "NUL in a header value", chunks: [json(["X-Bad: a\u0000b"])] },
    { name: "control bytes in a header value", chunks: [json(["X-Bad: \u0001\u0002\u007f"])] },
    { name: "space in a header name", chunks: [json(["X Bad: 1"])] },
    { name: "obsolete line folding", chunks: [json(["X-Folded: a", " b"])] },
    { name: "bare LF line endings", chunks: [`POST ${RPC}/Read HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 2\n\n{}`] },
    {
      name: "bytes above 0x7f in the path",
      chunks: [http1([`POST ${RPC}/R\u00e9ad\u00ff HTTP/1.1`, "Host: 127.0.0.1", "Content-Length: 0"])],
    },
    { name: "a 40 KB header", chunks: [json([`X-Big: ${"a".repeat(40_000)}`])] },
    { name: "2,000 headers", chunks: [json(Array.from({ length: 2000 }, (_, index) => `X-${index}: v`))] },
    { name: "a 100 KB URL", chunks: [http1([`GET /healthz?${"q".repeat(100_000)} HTTP/1.1`, "Host: 127.0.0.1"])] },
    {
      name: "Content-Length and Transfer-Encoding together",
      chunks: [json(["Transfer-Encoding: chunked"], `5\r\n${readJson.slice(0, 5)}\r\n0\r\n\r\n`)],
    },
    { name: "two different Content-Lengths", chunks: [json(["Content-Length: 3"])] },
    {
      name: "negative Content-Length",
      chunks: [
        http1(
          [
            `POST ${RPC}/Read HTTP/1.1`,
            "Host: 127.0.0.1",
            auth,
            "Content-Type: application/json",
            "Content-Length: -5",
          ],
          readJson,
        ),
      ],
    },
    {
      name: "Content-Length larger than the body, then silence",
      chunks: [
        http1(
          [
            `POST ${RPC}/Read HTTP/1.1`,
            "Host: 127.0.0.1",
            auth,
            "Content-Type: application/json",
            "Content-Length: 1000",
          ],
          readJson,
        ),
      ],
    },
    {
      name: "a bad chunk size",
      chunks: [
        http1(
          [
            `POST ${RPC}/Read HTTP/1.1`,
            "Host: 127.0.0.1",
            auth,
            "Content-Type: application/json",
            "Transfer-Encoding: chunked",
          ],
          "zz\r\n{}\r\n0\r\n\r\n",
        ),
      ],
    },
    {
      name: "an unknown transfer coding",
      chunks: [
        http1(
          [
            `POST ${RPC}/Read HTTP/1.1`,
            "Host: 127.0.0.1",
            auth,
            "Content-Type: application/json",
            "Transfer-Encoding: gzip, chunked",
          ],
          "2\r\n{}\r\n0\r\n\r\n",
        ),
      ],
    },
    {
      name: "h2c upgrade request",
      chunks: [
        http1(
          [
            `POST ${RPC}/Read HTTP/1.1`,
            "Host: 127.0.0.1",
            "Connection: Upgrade, HTTP2-Settings",
            "Upgrade: h2c",
            "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
            auth,
            "Content-Type: application/json",
            `Content-Length: ${readJson.length}`,
          ],
          readJson,
        ),
      ],
    },
    {
      name: "websocket upgrade request",
      chunks: [
        http1([
          "GET /healthz HTTP/1.1",
          "Host: 127.0.0.1",
          "Connection: Upgrade",
          "Upgrade: websocket",
          "Sec-WebSocket-Version: 13",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ]),
      ],
    },
    { name: "Expect: 100-continue and then nothing", chunks: [json(["Expect: 100-continue"], "")] },
    { name: "an unknown Expect", chunks: [json(["Expect: the-unexpected"])] },
    {
      name: "pipelined requests with garbage between them",
      chunks: [
        `${http1(["GET /healthz HTTP/1.1", "Host: 127.0.0.1"])}\u0000\u0001garbage\r\n\r\n${http1(["GET /healthz HTTP/1.1", "Host: 127.0.0.1"])}`,
      ],
    },
    {
      name: "a token in a malformed request",
      chunks: [
        http1([
          `POST ${RPC}/Read HTTP/1.1`,
          "Host: 127.0.0.1",
          `Authorization: Bearer ${SENSITIVE}`,
          "X-Bad: \u0000",
          "Content-Length: 0",
        ]),
      ],
    },
    { name: "random bytes", chunks: [Buffer.from(Array.from({ length: 512 }, (_, index) => (index * 131 + 7) % 256))] },
    { name: "a TLS ClientHello to a plain-text port", chunks: [Buffer.from("16030100a5010000a10303", "hex")] },
    { name: "half a request line, then close", chunks: [`POST ${RPC}/Re`], quietMs: 50 },
  ];
}

/** Malformed RPC bodies and headers over HTTP/1.1, per protocol and encoding. */
function bodyCorpus(auth: string): Case[] {
  const post = (path: string, contentType: string, body: Buffer, extra: string[] = []) => [
    Buffer.concat([
      Buffer.from(
        http1([
          `POST ${path} HTTP/1.1`,
          "Host: 127.0.0.1",
          `Content-Type: ${contentType}`,
          auth,
          `Content-Length: ${body.length}`,
          ...extra,
        ]),
        "latin1",
      ),
      body,
    ]),
  ];
  const junk = Buffer.from("\u00ff\u00fe not a message", "latin1");
  const read = Buffer.from([0x0a, SECRET_NAME.length, ...Buffer.from(SECRET_NAME)]);
  return [
    { name: "Connect binary with an odd content-type case", chunks: post(`${RPC}/Read`, "Application/Proto", junk) },
    {
      name: "Connect gzip, corrupt",
      chunks: post(`${RPC}/Read`, "application/proto", junk, ["Content-Encoding: gzip"]),
    },
    {
      name: "Connect gzip, truncated",
      chunks: post(`${RPC}/Read`, "application/proto", gzipSync(read).subarray(0, 8), ["Content-Encoding: gzip"]),
    },
    { name: "Connect br, corrupt", chunks: post(`${RPC}/Read`, "application/proto", junk, ["Content-Encoding: br"]) },
    {
      name: "Connect unknown encoding",
      chunks: post(`${RPC}/Read`, "application/proto", junk, ["Content-Encoding: zstd"]),
    },
    {
      name: "Connect JSON, gzip of junk",
      chunks: post(`${RPC}/Read`, "application/json", gzipSync(junk), ["Content-Encoding: gzip"]),
    },
    {
      name: "Connect JSON, truncated",
      chunks: post(`${RPC}/Read`, "application/json; charset=utf-8", Buffer.from(readJson.slice(0, 9))),
    },
    { name: "Connect bad timeout", chunks: post(`${RPC}/Read`, "application/proto", read, ["Connect-Timeout-Ms: -1"]) },
    {
      name: "Connect huge timeout",
      chunks: post(`${RPC}/Read`, "application/proto", read, ["Connect-Timeout-Ms: 99999999999999999999"]),
    },
    {
      name: "gRPC-Web gzip, corrupt",
      chunks: post(`${RPC}/Read`, "application/grpc-web+proto", envelope(junk, 1), ["Grpc-Encoding: gzip"]),
    },
    {
      name: "gRPC-Web compressed flag without an encoding",
      chunks: post(`${RPC}/Read`, "application/grpc-web", envelope(read, 1)),
    },
    {
      name: "gRPC-Web two envelopes",
      chunks: post(`${RPC}/Read`, "application/grpc-web", Buffer.concat([envelope(read), envelope(read)])),
    },
    {
      name: "gRPC-Web truncated envelope",
      chunks: post(`${RPC}/Read`, "application/grpc-web", envelope(read, 0, 1000)),
    },
    {
      name: "gRPC-Web envelope header cut short",
      chunks: post(`${RPC}/Read`, "application/grpc-web", Buffer.from([0, 0, 0])),
    },
    {
      name: "gRPC-Web trailer flag in a request",
      chunks: post(`${RPC}/Read`, "application/grpc-web", envelope(read, 0x80)),
    },
    {
      name: "gRPC-Web text, bad base64",
      chunks: post(`${RPC}/Read`, "application/grpc-web-text", Buffer.from("!!!not base64!!!")),
    },
    {
      name: "gRPC-Web bad grpc-timeout",
      chunks: post(`${RPC}/Read`, "application/grpc-web", envelope(read), ["Grpc-Timeout: 1X"]),
    },
    {
      name: "gRPC-Web huge grpc-timeout",
      chunks: post(`${RPC}/Read`, "application/grpc-web", envelope(read), ["Grpc-Timeout: 999999999H"]),
    },
    { name: "gRPC over HTTP/1.1", chunks: post(`${RPC}/Read`, "application/grpc", envelope(read), ["TE: trailers"]) },
    {
      name: "gRPC over HTTP/1.1, gzip corrupt",
      chunks: post(`${RPC}/Read`, "application/grpc+proto", envelope(junk, 1), ["Grpc-Encoding: gzip"]),
    },
    {
      name: "JSON for a method that takes no fields",
      chunks: post(`${RPC}/ListHosted`, "application/json", Buffer.from('{"unknown":1}')),
    },
    { name: "an unknown content type", chunks: post(`${RPC}/Read`, "text/plain", read) },
    { name: "an unknown method of the service", chunks: post(`${RPC}/Nope`, "application/proto", read) },
    { name: "a probe with a body", chunks: post("/healthz", "application/json", Buffer.from(readJson)) },
  ];
}

/** Broken HTTP/2: prefaces, frames, header blocks, flow control, resets. `auth` is the bearer token. */
function http2Corpus(token: string): Case[] {
  const request = (
    path: string,
    contentType = "application/grpc",
    extra: Array<[string, string]> = [],
  ): Array<readonly [string, string]> =>
    grpcRequestFields(path, {
      contentType,
      authority: "127.0.0.1",
      extra: [["authorization", `Bearer ${token}`], ...extra],
    });
  const read = envelope(Buffer.from([0x0a, SECRET_NAME.length, ...Buffer.from(SECRET_NAME)]));
  const junk = Buffer.from("\u00ff\u00fe not a message", "latin1");
  const withStart = (...frames: Buffer[]) => [Buffer.concat([CLIENT_START, ...frames])];
  return [
    { name: "bare preface", chunks: [PREFACE] },
    { name: "half a preface", chunks: [PREFACE.subarray(0, 10)], quietMs: 50 },
    { name: "a preface with a typo", chunks: [Buffer.from("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")] },
    {
      name: "preface, then a frame claiming 16 MB",
      chunks: withStart(frame(FrameType.DATA, 0, 1, Buffer.alloc(10), 0xffffff)),
    },
    {
      name: "preface, then half a frame header",
      chunks: [Buffer.concat([CLIENT_START, Buffer.from([0, 0])])],
      quietMs: 50,
    },
    {
      name: "SETTINGS with bad values",
      chunks: [
        Buffer.concat([
          PREFACE,
          settings([
            [Setting.ENABLE_PUSH, 2],
            [Setting.INITIAL_WINDOW_SIZE, 0x80000000],
            [Setting.MAX_FRAME_SIZE, 10],
          ]),
        ]),
      ],
    },
    {
      name: "SETTINGS with an odd length",
      chunks: [Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5))])],
    },
    {
      name: "SETTINGS on a stream",
      chunks: [Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 1, Buffer.alloc(0))])],
    },
    {
      name: "a SETTINGS flood",
      chunks: [
        Buffer.concat([PREFACE, ...Array.from({ length: 2000 }, () => settings([[Setting.HEADER_TABLE_SIZE, 4096]]))]),
      ],
    },
    { name: "a PING flood", chunks: withStart(...Array.from({ length: 2000 }, () => ping())) },
    { name: "an unsolicited SETTINGS ack", chunks: withStart(SETTINGS_ACK, SETTINGS_ACK) },
    { name: "invalid HPACK (index 0)", chunks: withStart(frame(FrameType.HEADERS, 0x5, 1, Buffer.from([0x80]))) },
    {
      name: "invalid HPACK (table size update past the limit)",
      chunks: withStart(frame(FrameType.HEADERS, 0x5, 1, Buffer.from([0x3f, 0xe1, 0xff, 0xff, 0x0f]))),
    },
    {
      name: "invalid HPACK (string longer than the block)",
      chunks: withStart(frame(FrameType.HEADERS, 0x5, 1, Buffer.from([0x00, 0x7f, 0x7f]))),
    },
    {
      name: "no :authority (the HTTP/2 form of the Host crash)",
      chunks: withStart(
        headers(
          1,
          request(`${RPC}/ListHosted`, "application/json").filter(([name]) => name !== ":authority"),
          { endStream: false },
        ),
        data(1, Buffer.from("{}")),
      ),
    },
    {
      name: "an :authority that is no authority",
      chunks: withStart(
        headers(
          1,
          request(`${RPC}/ListHosted`, "application/json").map(
            ([name, value]) => [name, name === ":authority" ? "[::1" : value] as [string, string],
          ),
          { endStream: false },
        ),
        data(1, Buffer.from("{}")),
      ),
    },
    {
      name: "no :method and no :path",
      chunks: withStart(
        headers(
          1,
          [
            [":scheme", "http"],
            [":authority", "x"],
          ],
          { endStream: true },
        ),
      ),
    },
    {
      name: "pseudo-header after a regular one",
      chunks: withStart(headers(1, [["x-first", "1"], ...request(`${RPC}/Read`)], { endStream: true })),
    },
    {
      name: "upper-case header name",
      chunks: withStart(headers(1, [...request(`${RPC}/Read`), ["X-Upper", "1"]], { endStream: true })),
    },
    {
      name: "connection-specific header",
      chunks: withStart(headers(1, [...request(`${RPC}/Read`), ["connection", "keep-alive"]], { endStream: true })),
    },
    {
      name: "NUL in a header value",
      chunks: withStart(
        headers(1, [...request(`${RPC}/Read`), ["x-bad", Buffer.from([0x61, 0x00, 0x62])]], { endStream: true }),
      ),
    },
    {
      name: "CONNECT method",
      chunks: withStart(
        headers(
          1,
          [
            [":method", "CONNECT"],
            [":authority", "127.0.0.1:443"],
          ],
          { endStream: false },
        ),
      ),
    },
    {
      name: "odd method",
      chunks: withStart(
        headers(
          1,
          [
            [":method", "BREW"],
            [":scheme", "http"],
            [":path", "/healthz"],
            [":authority", "x"],
          ],
          { endStream: true },
        ),
      ),
    },
    {
      name: "absolute :path",
      chunks: withStart(headers(1, request(`http://evil.example${RPC}/Read`), { endStream: true })),
    },
    {
      name: "a CONTINUATION flood",
      chunks: withStart(
        headers(1, request(`${RPC}/Read`), { endStream: true, endHeaders: false }),
        ...Array.from({ length: 3000 }, () =>
          frame(FrameType.CONTINUATION, 0, 1, headerBlock([["x-c", "v".repeat(50)]])),
        ),
      ),
    },
    {
      name: "CONTINUATION without HEADERS",
      chunks: withStart(frame(FrameType.CONTINUATION, 0x4, 1, headerBlock([["x", "y"]]))),
    },
    {
      name: "a 64 KB header block",
      chunks: withStart(
        headers(1, [...request(`${RPC}/Read`), ["x-big", "b".repeat(15_000)], ["x-big2", "b".repeat(15_000)]], {
          endStream: true,
        }),
      ),
    },
    { name: "even (server) stream id", chunks: withStart(headers(2, request(`${RPC}/Read`), { endStream: true })) },
    {
      name: "decreasing stream ids",
      chunks: withStart(
        headers(5, request("/healthz"), { endStream: true }),
        headers(3, request("/healthz"), { endStream: true }),
      ),
    },
    { name: "DATA on stream 0", chunks: withStart(data(0, Buffer.from("x"))) },
    { name: "DATA on an idle stream", chunks: withStart(data(7, read)) },
    {
      name: "DATA past the flow-control window",
      chunks: withStart(
        headers(1, request(`${RPC}/Read`)),
        ...Array.from({ length: 6 }, () => data(1, Buffer.alloc(16_384), false)),
      ),
    },
    {
      name: "WINDOW_UPDATE of 0 and overflowing",
      chunks: withStart(windowUpdate(0, 0), windowUpdate(0, 0x7fffffff), windowUpdate(0, 0x7fffffff)),
    },
    { name: "RST_STREAM on an idle stream", chunks: withStart(rstStream(9)) },
    { name: "PRIORITY on itself", chunks: withStart(frame(FrameType.PRIORITY, 0, 3, Buffer.from([0, 0, 0, 3, 16]))) },
    {
      name: "PUSH_PROMISE from a client",
      chunks: withStart(frame(FrameType.PUSH_PROMISE, 0x4, 1, Buffer.from([0, 0, 0, 2]))),
    },
    { name: "an unknown frame type", chunks: withStart(frame(0x42, 0xff, 0, Buffer.from("hello"))) },
    {
      name: "GOAWAY from the client, then a request",
      chunks: withStart(goaway(0, 0), headers(1, request(`${RPC}/Read`), { endStream: false }), data(1, read)),
    },
    {
      name: "gRPC with a truncated envelope",
      chunks: withStart(headers(1, request(`${RPC}/Read`)), data(1, envelope(junk, 0, 1000))),
    },
    {
      name: "gRPC with two envelopes",
      chunks: withStart(headers(1, request(`${RPC}/Read`)), data(1, Buffer.concat([read, read]))),
    },
    {
      name: "gRPC with corrupt gzip",
      chunks: withStart(
        headers(1, request(`${RPC}/Read`, "application/grpc", [["grpc-encoding", "gzip"]])),
        data(1, envelope(junk, 1)),
      ),
    },
    {
      name: "gRPC with an unknown encoding",
      chunks: withStart(
        headers(1, request(`${RPC}/Read`, "application/grpc", [["grpc-encoding", "zstd"]])),
        data(1, envelope(junk, 1)),
      ),
    },
    {
      name: "gRPC with a bad grpc-timeout",
      chunks: withStart(
        headers(1, request(`${RPC}/Read`, "application/grpc", [["grpc-timeout", "1X"]])),
        data(1, read),
      ),
    },
    {
      name: "gRPC with an overlong grpc-timeout",
      chunks: withStart(
        headers(1, request(`${RPC}/Read`, "application/grpc", [["grpc-timeout", "999999999999H"]])),
        data(1, read),
      ),
    },
    {
      name: "gRPC with a negative grpc-timeout",
      chunks: withStart(
        headers(1, request(`${RPC}/Read`, "application/grpc", [["grpc-timeout", "-1S"]])),
        data(1, read),
      ),
    },
    {
      name: "gRPC with a JSON content type",
      chunks: withStart(
        headers(1, request(`${RPC}/Read`, "application/grpc+json")),
        data(1, envelope(Buffer.from("{not json"))),
      ),
    },
    { name: "gRPC without a body", chunks: withStart(headers(1, request(`${RPC}/Read`), { endStream: true })) },
    {
      name: "Connect binary with gzip junk over HTTP/2",
      chunks: withStart(
        headers(1, request(`${RPC}/Read`, "application/proto", [["content-encoding", "gzip"]])),
        data(1, junk),
      ),
    },
    {
      name: "gRPC-Web with gzip junk over HTTP/2",
      chunks: withStart(
        headers(1, request(`${RPC}/Read`, "application/grpc-web", [["grpc-encoding", "gzip"]])),
        data(1, envelope(junk, 1)),
      ),
    },
    {
      name: "a request, then a reset mid-body",
      chunks: withStart(headers(1, request(`${RPC}/Read`)), data(1, read.subarray(0, 3), false), rstStream(1)),
    },
    {
      name: "rapid reset: 1,500 streams opened and cancelled",
      chunks: withStart(
        ...Array.from({ length: 1500 }, (_, index) =>
          Buffer.concat([headers(index * 2 + 1, request(`${RPC}/Read`)), rstStream(index * 2 + 1)]),
        ),
      ),
    },
    {
      name: "probe paths over HTTP/2",
      chunks: withStart(
        headers(
          1,
          [
            [":method", "GET"],
            [":scheme", "http"],
            [":path", "/metrics"],
            [":authority", "x"],
          ],
          { endStream: true },
        ),
        headers(
          3,
          [
            [":method", "GET"],
            [":scheme", "http"],
            [":path", "/readyz"],
          ],
          { endStream: true },
        ),
      ),
    },
  ];
}

/** Runs a batch of cases at a target, a few at a time. */
async function fire(target: RawTarget, cases: Case[]): Promise<void> {
  const queue = [...cases];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      await exchange(target, next.chunks, { quietMs: next.quietMs ?? 200, maxMs: 3_000 });
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
}

describe("hostile traffic against a running server (plain text)", () => {
  let server: TestServer;
  let auth: string;
  beforeAll(async () => {
    server = await TestServer.start({ env: { SECRETGATE_LOG_LEVEL: "info" } });
    server.sensitive.add(SENSITIVE);
    auth = `Authorization: Bearer ${server.token}`;
    await server.grpc.write({ name: SECRET_NAME, value: SECRET_VALUE });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const stillServing = async () => {
    expect(server.process.exitCode, "the server process exited").toBeNull();
    expect((await server.grpc.read({ names: [SECRET_NAME] })).results[0]?.found).toBe(true);
    const viaHttp = await server.json("Read", { names: [SECRET_NAME] });
    expect(viaHttp.status).toBe(200);
    expect(viaHttp.body.results[0].found).toBe(true);
  };

  it("survives malformed HTTP/1 at both ports", async () => {
    for (const address of [server.httpAddress, server.grpcAddress]) await fire({ address }, http1Corpus(auth));
    await stillServing();
    const metrics = await (await fetch(`http://${server.httpAddress}/metrics`)).text();
    expect(
      Number(/secretgate_listener_errors_total\{listener="http",kind="client_error"\} (\d+)/.exec(metrics)?.[1]),
    ).toBeGreaterThan(0);
  });

  it("answers a request without an authority, and refuses a bad or second Host naming the header", async () => {
    const answer = async (lines: string[], body = "{}") =>
      (await exchange({ address: server.httpAddress }, [http1(lines, body)])).received.toString("latin1");
    const listHosted = [`POST ${RPC}/ListHosted HTTP/1.0`, "Content-Type: application/json", auth, "Content-Length: 2"];
    expect(await answer(listHosted)).toMatch(/^HTTP\/1\.1 200 /);
    expect(await answer([...listHosted, "Host: "])).toMatch(/^HTTP\/1\.1 200 /);
    const second = await answer([...listHosted, "Host: 127.0.0.1", "Host: evil.example"]);
    expect(second).toMatch(/^HTTP\/1\.1 400 /);
    expect(second).toContain("more than one Host header");
    const bad = await answer([...listHosted, "Host: evil.example/path"]);
    expect(bad).toMatch(/^HTTP\/1\.1 400 /);
    expect(bad).toContain("the Host header is not a host[:port]");
    expect(bad).not.toContain("evil.example");
  });

  it("survives malformed RPC bodies and headers over HTTP/1.1", async () => {
    await fire({ address: server.httpAddress }, bodyCorpus(auth));
    await stillServing();
  });

  it("survives broken HTTP/2 at both ports", async () => {
    for (const address of [server.httpAddress, server.grpcAddress]) await fire({ address }, http2Corpus(server.token!));
    await stillServing();
  });

  it("survives connections reset before, during and after a request", async () => {
    const resets = [server.httpAddress, server.grpcAddress].flatMap((address) => [
      exchange({ address }, [], { quietMs: 1, reset: true }),
      exchange({ address }, ["GET /hea"], { quietMs: 1, reset: true }),
      exchange({ address }, [PREFACE.subarray(0, 5)], { quietMs: 1, reset: true }),
      exchange({ address }, [http1(["GET /metrics HTTP/1.1", "Host: x"])], { quietMs: 1, reset: true }),
      exchange(
        { address },
        [
          CLIENT_START,
          headers(
            1,
            [
              [":method", "GET"],
              [":scheme", "http"],
              [":path", "/metrics"],
              [":authority", "x"],
            ],
            { endStream: true },
          ),
        ],
        { quietMs: 1, reset: true },
      ),
    ]);
    await Promise.all(resets);
    await stillServing();
  });
});

describe("hostile traffic against a running server (TLS)", () => {
  const ca = new TestCa("secretgate-hostile-ca");
  let server: TestServer;
  let auth: string;
  let grpcClient: Client<typeof SecretService>;
  let connectClients: Array<Client<typeof SecretService>>;
  beforeAll(async () => {
    const pem = ca.server();
    server = await TestServer.start({
      env: { SECRETGATE_LOG_LEVEL: "info" },
      config: {
        secretgate: { tls: { cert_file: pem.certFile, key_file: pem.keyFile, client_ca_file: ca.root.certFile } },
      },
    });
    server.sensitive.add(SENSITIVE);
    auth = `Authorization: Bearer ${server.token}`;
    const bearer = {
      interceptors: [
        (next: any) => (request: any) => {
          request.header.set("authorization", `Bearer ${server.token}`);
          return next(request);
        },
      ],
    };
    grpcClient = createClient(
      SecretService,
      createGrpcTransport({ baseUrl: `https://${server.grpcAddress}`, nodeOptions: { ca: ca.root.cert }, ...bearer }),
    );
    connectClients = (["1.1", "2"] as const).map((httpVersion) =>
      createClient(
        SecretService,
        createConnectTransport({
          baseUrl: `https://${server.httpAddress}`,
          httpVersion,
          nodeOptions: { ca: ca.root.cert },
          ...bearer,
        }),
      ),
    );
    await grpcClient.write({ name: SECRET_NAME, value: SECRET_VALUE });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const stillServing = async () => {
    expect(server.process.exitCode, "the server process exited").toBeNull();
    expect((await grpcClient.read({ names: [SECRET_NAME] })).results[0]?.found).toBe(true);
    for (const client of connectClients)
      expect((await client.read({ names: [SECRET_NAME] })).results[0]?.found).toBe(true);
  };

  it("survives malformed HTTP/1 over TLS, and plain text sent to TLS ports", async () => {
    await fire({ address: server.httpAddress, tls: { alpn: ["http/1.1"] } }, http1Corpus(auth));
    await fire({ address: server.httpAddress, tls: {} }, http1Corpus(auth).slice(0, 10));
    await fire({ address: server.httpAddress, tls: { alpn: ["http/1.1"] } }, bodyCorpus(auth));
    for (const address of [server.httpAddress, server.grpcAddress]) {
      await fire({ address }, [...http1Corpus(auth).slice(0, 5), ...http2Corpus(server.token!).slice(0, 5)]);
      await fire({ address, tls: { alpn: ["spdy/3", "acme-tls/1"] } }, [
        { name: "unknown ALPN", chunks: [CLIENT_START] },
      ]);
    }
    await stillServing();
  });

  it("survives TLS connections reset before, during and after the handshake", async () => {
    const resets = [server.httpAddress, server.grpcAddress].flatMap((address) => [
      exchange({ address }, [Buffer.from("16030100a5010000a10303", "hex")], { quietMs: 1, reset: true }),
      exchange({ address, tls: { alpn: ["h2"] } }, [], { quietMs: 1, reset: true }),
      exchange({ address, tls: { alpn: ["h2"] } }, [PREFACE.subarray(0, 5)], { quietMs: 1, reset: true }),
      exchange({ address, tls: { alpn: ["http/1.1"] } }, ["GET /hea"], { quietMs: 1, reset: true }),
      exchange({ address, tls: { alpn: ["http/1.1"] } }, [http1(["GET /metrics HTTP/1.1", "Host: x"])], {
        quietMs: 1,
        reset: true,
      }),
    ]);
    await Promise.all(resets);
    await stillServing();
  });

  it("survives broken HTTP/2 over TLS at both ports", async () => {
    for (const address of [server.httpAddress, server.grpcAddress])
      await fire({ address, tls: { alpn: ["h2"] } }, http2Corpus(server.token!));
    await stillServing();
  });
});
