import type { Code, ConnectError } from "@connectrpc/connect";
import { type Compression, encodeEnvelope } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus, trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import type { BodyFormat } from "../request-body.js";

/**
 * A unary call's whole answer. Headers are listed in the order connect-node writes them: it
 * builds them in a `Headers`, which iterates its names sorted.
 */
export interface UnaryAnswer {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/**
 * A call refused before connect-node could see it (a malformed body, a bad authority), in its
 * protocol's own error shape. Both the connect-node path and the direct one answer with this.
 */
export function refusal(
  format: BodyFormat,
  error: ConnectError,
): { status: number; header: Headers; body: Uint8Array; trailer?: Headers } {
  if (format.protocol === "connect") {
    const header = new Headers(error.metadata);
    header.set("content-type", "application/json");
    return {
      status: codeToHttpStatus(error.code),
      header,
      body: new TextEncoder().encode(JSON.stringify({ code: codeToString(error.code), message: error.rawMessage })),
    };
  }
  const header = new Headers(error.metadata);
  header.set("content-type", responseContentType(format));
  const status = setTrailerStatus(new Headers(), error);
  if (format.protocol === "grpc-web") {
    // gRPC-Web sends its trailers as the body's last envelope.
    return { status: 200, header, body: encodeEnvelope(trailerFlag, trailerSerialize(status)) };
  }
  return { status: 200, header, body: new Uint8Array(0), trailer: status };
}

/** The content type of a response in the request's protocol and format. */
export function responseContentType(format: BodyFormat): string {
  if (format.protocol === "connect") return format.binary ? "application/proto" : "application/json";
  return `application/${format.protocol}+${format.binary ? "proto" : "json"}`;
}

// connect-es compresses a response body (Connect) or envelope (gRPC-Web) from this size on.
const COMPRESS_MIN_BYTES = 1024;
const COMPRESSED_FLAG = 0b1;
const GRPC_STATUS_OK = new TextEncoder().encode("grpc-status: 0\r\n");

/**
 * What connect-node answers a Connect or gRPC-Web unary call: its response message (already
 * serialized in the call's format), or its failure. `compression` is the one the request's
 * accept header negotiated, if any. Synchronous unless something is large enough to compress.
 */
export function unaryAnswer(
  format: BodyFormat,
  outcome: { message: Uint8Array } | { code: Code; message: string },
  compression: Compression | undefined,
): UnaryAnswer | Promise<UnaryAnswer> {
  if (format.protocol === "connect") {
    if ("code" in outcome)
      return connectAnswer(
        codeToHttpStatus(outcome.code),
        "application/json",
        errorJson(outcome.code, outcome.message),
        compression,
      );
    return connectAnswer(200, responseContentType(format), outcome.message, compression);
  }
  const trailer = "code" in outcome ? Buffer.from(trailerLines(outcome.code, outcome.message), "utf8") : GRPC_STATUS_OK;
  const envelopes =
    "code" in outcome
      ? [{ flags: trailerFlag, data: trailer }]
      : [
          { flags: 0, data: outcome.message },
          { flags: trailerFlag, data: trailer },
        ];
  const headers: Record<string, string> = { "content-type": responseContentType(format) };
  if (compression) headers["grpc-encoding"] = compression.name;
  if (!compression || envelopes.every(({ data }) => data.byteLength < COMPRESS_MIN_BYTES))
    return { status: 200, headers, body: joinEnvelopes(envelopes) };
  return Promise.all(
    envelopes.map(async ({ flags, data }) =>
      data.byteLength < COMPRESS_MIN_BYTES
        ? { flags, data }
        : { flags: flags | COMPRESSED_FLAG, data: await compression.compress(data) },
    ),
  ).then((compressed) => ({ status: 200, headers, body: joinEnvelopes(compressed) }));
}

function connectAnswer(
  status: number,
  contentType: string,
  body: Uint8Array,
  compression: Compression | undefined,
): UnaryAnswer | Promise<UnaryAnswer> {
  if (!compression || body.byteLength < COMPRESS_MIN_BYTES) {
    return { status, headers: { "content-length": String(body.byteLength), "content-type": contentType }, body };
  }
  return compression.compress(body).then((compressed) => ({
    status,
    headers: {
      "content-encoding": compression.name,
      "content-length": String(compressed.byteLength),
      "content-type": contentType,
    },
    body: compressed,
  }));
}

/** connect-es's error JSON for an error without details or metadata (its `message` is left out when empty). */
function errorJson(code: Code, message: string): Uint8Array {
  return Buffer.from(
    JSON.stringify(message === "" ? { code: codeToString(code) } : { code: codeToString(code), message }),
    "utf8",
  );
}

/** A failed call's gRPC-Web trailer block, as connect-es's setTrailerStatus and trailerSerialize write it. */
function trailerLines(code: Code, message: string): string {
  return `grpc-message: ${encodeURIComponent(message)}\r\ngrpc-status: ${code}\r\n`;
}

function joinEnvelopes(envelopes: ReadonlyArray<{ flags: number; data: Uint8Array }>): Buffer {
  let size = 0;
  for (const { data } of envelopes) size += 5 + data.byteLength;
  const bytes = Buffer.allocUnsafe(size);
  let at = 0;
  for (const { flags, data } of envelopes) {
    bytes[at] = flags;
    bytes.writeUInt32BE(data.byteLength, at + 1);
    bytes.set(data, at + 5);
    at += 5 + data.byteLength;
  }
  return bytes;
}
