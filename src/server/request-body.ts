import { type DescMessage, fromBinary, fromJson, type JsonValue, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Compression, encodeEnvelope } from "@connectrpc/connect/protocol";
import { parseContentType as parseConnectContentType } from "@connectrpc/connect/protocol-connect";
import { parseContentType as parseGrpcContentType } from "@connectrpc/connect/protocol-grpc";
import { parseContentType as parseGrpcWebContentType } from "@connectrpc/connect/protocol-grpc-web";
import { type BodyHold, tooMuchArriving } from "./arriving-bodies.js";

/** The protocols the HTTP port serves unary calls in, each with its own error shape. */
export type Protocol = "connect" | "grpc-web" | "grpc";

/** What a request's method and content type say about its body. */
export interface BodyFormat {
  protocol: Protocol;
  binary: boolean;
}

/**
 * The format of a unary call's body, judged as connect-es judges it (content types compare
 * without case, `; charset=utf-8` allowed); undefined for what connect-es refuses itself
 * (other methods and content types, streaming and gRPC-Web text content types: 405 or 415).
 */
export function bodyFormat(method: string | undefined, contentType: string | null): BodyFormat | undefined {
  if (method !== "POST") return undefined;
  const connect = parseConnectContentType(contentType);
  if (connect) return connect.stream ? undefined : { protocol: "connect", binary: connect.binary };
  const web = parseGrpcWebContentType(contentType);
  if (web) return web.text ? undefined : { protocol: "grpc-web", binary: web.binary };
  const grpc = parseGrpcContentType(contentType);
  return grpc ? { protocol: "grpc", binary: grpc.binary } : undefined;
}

// gRPC and gRPC-Web carry each message in an envelope: a flags byte, then a 4-byte length.
const ENVELOPE_HEADER_BYTES = 5;
const COMPRESSED_FLAG = 0b1;

/**
 * Reads a unary call's body and checks everything connect-es would otherwise report as INTERNAL
 * (it shares its parsers with clients, where a bad message is the server's fault): the size,
 * the compression, the envelope (exactly one, complete, with known flags) and the message itself.
 * Returns the body for connect-es to parse — the one message, uncompressed, in the protocol's
 * framing, with headers to match — or the error to refuse the call with.
 */
export async function checkUnaryBody(
  request: { header: Headers; body: AsyncIterable<Uint8Array> },
  format: BodyFormat,
  input: DescMessage,
  options: { readMaxBytes: number; compressions: readonly Compression[]; hold: BodyHold },
): Promise<{ header: Headers; body: Uint8Array } | ConnectError> {
  const compression = requestCompression(format, request.header.get(encodingHeader(format)), options.compressions);
  if (compression instanceof ConnectError) return compression;
  const raw = await readAtMost(request.body, request.header.get("content-length"), options.readMaxBytes, options.hold);
  if (raw === "too large") return tooLarge(options.readMaxBytes);
  if (raw === "too much arriving") return tooMuchArriving(options.hold.maxBytes);
  options.hold.close();
  const message = await unaryMessageBytes(raw, format, compression, options.readMaxBytes);
  if (message instanceof ConnectError) return message;
  const decoded = decodeUnaryMessage(input, format, message);
  if (decoded instanceof ConnectError) return decoded;

  const header = new Headers(request.header);
  header.delete(encodingHeader(format));
  if (format.protocol === "connect") {
    header.set("content-length", String(message.byteLength));
    return { header, body: message };
  }
  return { header, body: encodeEnvelope(0, message) };
}

/** The header that names a request's compression in its protocol. */
export function encodingHeader(format: BodyFormat): "content-encoding" | "grpc-encoding" {
  return format.protocol === "connect" ? "content-encoding" : "grpc-encoding";
}

/**
 * The compression a request's encoding header names: undefined for none (or `identity`), the
 * error to refuse the call with for one this server does not accept.
 */
export function requestCompression(
  format: BodyFormat,
  encoding: string | null,
  compressions: readonly Compression[],
): Compression | undefined | ConnectError {
  if (encoding === null || encoding === "identity") return undefined;
  const compression = compressions.find((candidate) => candidate.name === encoding);
  if (compression) return compression;
  const accepted = compressions.map((candidate) => candidate.name).join(",");
  const acceptHeader = format.protocol === "connect" ? "accept-encoding" : "grpc-accept-encoding";
  return new ConnectError(
    `${encodingHeader(format)}: the request is compressed with an encoding ` +
      `this server does not accept (it accepts ${accepted})`,
    Code.Unimplemented,
    {
      [acceptHeader]: accepted,
    },
  );
}

/** The refusal of a body larger than max_message_bytes (announced, or as it arrived). */
export function tooLarge(readMaxBytes: number): ConnectError {
  return new ConnectError(`request body is larger than max_message_bytes (${readMaxBytes})`, Code.ResourceExhausted);
}

/**
 * The one message of a whole unary body, out of its envelope and uncompressed, or the error to
 * refuse the call with. Synchronous unless the message is compressed.
 */
export function unaryMessageBytes(
  raw: Uint8Array,
  format: BodyFormat,
  compression: Compression | undefined,
  readMaxBytes: number,
): Uint8Array | ConnectError | Promise<Uint8Array | ConnectError> {
  let message: Uint8Array;
  if (format.protocol === "connect") {
    message = raw;
  } else {
    const envelope = singleEnvelope(raw);
    if (envelope instanceof ConnectError) return envelope;
    if ((envelope.flags & COMPRESSED_FLAG) !== 0 && !compression) {
      return new ConnectError(
        "request message is flagged as compressed, but grpc-encoding names no compression",
        Code.InvalidArgument,
      );
    }
    if ((envelope.flags & COMPRESSED_FLAG) === 0) compression = undefined;
    message = envelope.data;
  }
  return compression ? decompress(compression, message, readMaxBytes) : message;
}

/**
 * The request message, or the INVALID_ARGUMENT to refuse the call with: what connect-es would parse, held to
 * protobuf's strict rules.
 */
export function decodeUnaryMessage(input: DescMessage, format: BodyFormat, bytes: Uint8Array): Message | ConnectError {
  return format.binary ? decodeBinary(input, bytes) : decodeJson(input, bytes);
}

/**
 * All of a body, or what stopped it: it is (or announces it will be) larger than `limit`, or the
 * listener's bodies still arriving hold all they may. The rest is left unread; once the refusal
 * is answered, unread-bodies.ts ends the stream or connection.
 */
async function readAtMost(
  body: AsyncIterable<Uint8Array>,
  announced: string | null,
  limit: number,
  hold: BodyHold,
): Promise<Uint8Array | "too large" | "too much arriving"> {
  if (announcesMore(announced, limit)) return "too large";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const iterator = body[Symbol.asyncIterator]();
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    size += next.value.byteLength;
    if (size > limit) return "too large";
    if (!hold.take(next.value.byteLength)) return "too much arriving";
    chunks.push(next.value);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** Whether a request's content-length announces a body larger than `limit` (it is then refused unread). */
export function announcesMore(contentLength: string | null, limit: number): boolean {
  return contentLength !== null && Number(contentLength) > limit;
}

/** The one envelope of a unary body; anything else (none, two, a cut-off one, unknown flags) is the caller's error. */
function singleEnvelope(body: Uint8Array): { flags: number; data: Uint8Array } | ConnectError {
  if (body.byteLength === 0)
    return new ConnectError("request body holds no message: a unary call takes exactly one", Code.InvalidArgument);
  if (body.byteLength < ENVELOPE_HEADER_BYTES) {
    return new ConnectError(
      `request body ends inside an envelope header (${body.byteLength} of ${ENVELOPE_HEADER_BYTES} bytes)`,
      Code.InvalidArgument,
    );
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const flags = view.getUint8(0);
  const length = view.getUint32(1);
  const end = ENVELOPE_HEADER_BYTES + length;
  if (body.byteLength < end) {
    return new ConnectError(
      `request body ends inside its message (the envelope announces ${length} ` +
        `bytes, ${body.byteLength - ENVELOPE_HEADER_BYTES} arrived)`,
      Code.InvalidArgument,
    );
  }
  if (body.byteLength > end)
    return new ConnectError(
      "request body holds more than one message: a unary call takes exactly one",
      Code.InvalidArgument,
    );
  if ((flags & ~COMPRESSED_FLAG) !== 0)
    return new ConnectError(
      `request envelope has unknown flags (0x${flags.toString(16).padStart(2, "0")})`,
      Code.InvalidArgument,
    );
  return { flags, data: body.subarray(ENVELOPE_HEADER_BYTES) };
}

async function decompress(
  compression: Compression,
  bytes: Uint8Array,
  readMaxBytes: number,
): Promise<Uint8Array | ConnectError> {
  try {
    return await compression.decompress(bytes, readMaxBytes);
  } catch (error) {
    if (ConnectError.from(error).code === Code.ResourceExhausted) {
      return new ConnectError(
        `request body decompresses to more than max_message_bytes (${readMaxBytes})`,
        Code.ResourceExhausted,
      );
    }
    return new ConnectError(`request body is not valid ${compression.name}`, Code.InvalidArgument);
  }
}

function decodeBinary(input: DescMessage, bytes: Uint8Array): Message | ConnectError {
  try {
    return fromBinary(input, bytes);
  } catch (error) {
    return new ConnectError(
      `request body is not a valid ${input.typeName} message: ${(error as Error).message}`,
      Code.InvalidArgument,
    );
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeJson(input: DescMessage, bytes: Uint8Array): Message | ConnectError {
  let json: JsonValue;
  try {
    json = JSON.parse(utf8.decode(bytes)) as JsonValue;
  } catch {
    return new ConnectError(`request body is not valid JSON (UTF-8) for ${input.typeName}`, Code.InvalidArgument);
  }
  try {
    return fromJson(input, json);
  } catch (error) {
    return new ConnectError(
      `request body is not a valid ${input.typeName} in JSON: ${withoutQuotedText((error as Error).message)}`,
      Code.InvalidArgument,
    );
  }
}

/**
 * protobuf-es quotes the caller's JSON in its errors (`expected bool, got "sk-…"`, `map entry "…"`,
 * `key "…" is unknown`), and these messages reach audit records: a value sent in the wrong field
 * must not. The field's name, which protobuf-es does not quote, stays.
 */
function withoutQuotedText(message: string): string {
  return message.replace(/"(?:[^"\\]|\\.)*"/g, '"…"');
}
