import { toBinary } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import {
  type ItemError,
  ItemErrorSchema,
  type ReadResponse,
  ReadResponseSchema,
  type SecretResult,
  SecretResultSchema,
} from "../../../gen/secretgate/v1/secret_service_pb.js";

/**
 * The binary encoding of a ReadResponse, written by hand for the gRPC listener because it is on
 * every cache-hit Read. protobuf-es's `toBinary` took 3.7 µs for a one-name response, 1.6 µs of
 * it in the two ArrayBuffers it makes per call (its writer's buffer, then the slice it returns);
 * this sizes the message first and writes it once into a Buffer from Node's pool.
 *
 * It produces exactly the bytes `toBinary` does (tests compare the two with every field set),
 * and it hands anything it was not written for to `toBinary`: a message carrying unknown fields,
 * or a SecretResult or ItemError whose schema has gained fields since (the tests fail on that too).
 */
export function encodeReadResponse(response: ReadResponse): Buffer {
  return encodeAfter(response, 0);
}

/**
 * The same bytes behind gRPC's 5-byte message prefix (uncompressed, and the message's length), in
 * one buffer: the gRPC port's answer as it goes on the wire, without a second copy.
 */
export function encodeReadResponseFramed(response: ReadResponse): Buffer {
  const framed = encodeAfter(response, GRPC_PREFIX_BYTES);
  framed[0] = 0;
  framed.writeUInt32BE(framed.length - GRPC_PREFIX_BYTES, 1);
  return framed;
}

const GRPC_PREFIX_BYTES = 5;

/** The message's bytes, after `offset` bytes left for the caller. */
function encodeAfter(response: ReadResponse, offset: number): Buffer {
  if (!KNOWS_SCHEMA || response.$unknown !== undefined || !response.results.every(isPlainResult)) {
    const bytes = toBinary(ReadResponseSchema, response);
    if (offset === 0) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const copy = Buffer.allocUnsafe(offset + bytes.byteLength);
    copy.set(bytes, offset);
    return copy;
  }
  const sizes = response.results.map(resultSize);
  let total = offset;
  for (const size of sizes) total += 1 + varintSize(size) + size;
  const writer = new Writer(Buffer.allocUnsafe(total), offset);
  response.results.forEach((result, index) => {
    writer.tag(1, LENGTH_DELIMITED).varint(sizes[index]!);
    writeResult(writer, result);
  });
  return writer.bytes;
}

/** The SecretResult fields this encoder writes, by number; checked against the generated schema. */
export const ENCODED_RESULT_FIELDS: Readonly<Record<number, string>> = {
  1: "name",
  2: "found",
  3: "value",
  4: "binaryValue",
  5: "source",
  6: "version",
  7: "fetchedAt",
  8: "fromCache",
  9: "stale",
  10: "error",
  11: "resolvedName",
  12: "fallback",
};

/** The ItemError fields this encoder writes, by number; checked against the generated schema. */
export const ENCODED_ERROR_FIELDS: Readonly<Record<number, string>> = {
  1: "code",
  2: "status",
  3: "message",
  4: "reason",
};

const KNOWS_SCHEMA =
  writesEveryField(SecretResultSchema.fields, ENCODED_RESULT_FIELDS) &&
  writesEveryField(ItemErrorSchema.fields, ENCODED_ERROR_FIELDS);

function writesEveryField(
  fields: ReadonlyArray<{ number: number; localName: string }>,
  encoded: Readonly<Record<number, string>>,
): boolean {
  return (
    fields.length === Object.keys(encoded).length && fields.every((field) => encoded[field.number] === field.localName)
  );
}

const VARINT = 0;
/**
 * Strings up to this many characters are measured and copied in JavaScript when they are ASCII
 * (names, versions, sources, most keys): Buffer's native calls cost ~50 ns each, several times
 * the loop.
 */
const SHORT_STRING = 64;
const LENGTH_DELIMITED = 2;

function isPlainResult(result: SecretResult): boolean {
  return (
    result.$unknown === undefined && result.fetchedAt?.$unknown === undefined && result.error?.$unknown === undefined
  );
}

function resultSize(result: SecretResult): number {
  let size =
    stringField(result.name) + boolField(result.found) + stringField(result.value) + bytesField(result.binaryValue);
  size += stringField(result.source) + stringField(result.version);
  if (result.fetchedAt) size += messageField(timestampSize(result.fetchedAt));
  size += boolField(result.fromCache) + boolField(result.stale);
  if (result.error) size += messageField(errorSize(result.error));
  return size + stringField(result.resolvedName) + boolField(result.fallback);
}

function writeResult(writer: Writer, result: SecretResult): void {
  writer.string(1, result.name).bool(2, result.found).string(3, result.value).bytesField(4, result.binaryValue);
  writer.string(5, result.source).string(6, result.version);
  if (result.fetchedAt) {
    writer.tag(7, LENGTH_DELIMITED).varint(timestampSize(result.fetchedAt));
    writer.int64(1, result.fetchedAt.seconds).int32(2, result.fetchedAt.nanos);
  }
  writer.bool(8, result.fromCache).bool(9, result.stale);
  if (result.error) {
    writer.tag(10, LENGTH_DELIMITED).varint(errorSize(result.error));
    writer
      .int32(1, result.error.code)
      .string(2, result.error.status)
      .string(3, result.error.message)
      .string(4, result.error.reason);
  }
  writer.string(11, result.resolvedName).bool(12, result.fallback);
}

function timestampSize(timestamp: Timestamp): number {
  return int64Field(timestamp.seconds) + int32Field(timestamp.nanos);
}

function errorSize(error: ItemError): number {
  return int32Field(error.code) + stringField(error.status) + stringField(error.message) + stringField(error.reason);
}

// Field sizes, tag included (every field number here is below 16: a one-byte tag). Proto3
// leaves out fields that hold their default.
function stringField(value: string): number {
  if (value === "") return 0;
  const length = utf8Length(value);
  return 1 + varintSize(length) + length;
}

function utf8Length(value: string): number {
  if (value.length > SHORT_STRING) return Buffer.byteLength(value, "utf8");
  for (let index = 0; index < value.length; index++) {
    if (value.charCodeAt(index) >= 0x80) return Buffer.byteLength(value, "utf8");
  }
  return value.length;
}

function bytesField(value: Uint8Array): number {
  return value.length === 0 ? 0 : 1 + varintSize(value.length) + value.length;
}

function boolField(value: boolean): number {
  return value ? 2 : 0;
}

function messageField(size: number): number {
  return 1 + varintSize(size) + size;
}

function int32Field(value: number): number {
  // Negative int32 values are sign-extended to ten bytes on the wire.
  return value === 0 ? 0 : 1 + (value < 0 ? 10 : varintSize(value));
}

function int64Field(value: bigint): number {
  if (value === 0n) return 0;
  // Timestamps' seconds fit a double exactly; BigInt arithmetic costs more than the rest of a result.
  const number = Number(value);
  if (number > 0 && number <= Number.MAX_SAFE_INTEGER) return 1 + varintSize(number);
  return 1 + bigVarintSize(BigInt.asUintN(64, value));
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

function bigVarintSize(value: bigint): number {
  let size = 1;
  while (value >= 0x80n) {
    value >>= 7n;
    size++;
  }
  return size;
}

class Writer {
  constructor(
    readonly bytes: Buffer,
    private position: number,
  ) {}

  tag(field: number, wireType: number): this {
    this.bytes[this.position++] = (field << 3) | wireType;
    return this;
  }

  varint(value: number): this {
    while (value >= 0x80) {
      this.bytes[this.position++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.bytes[this.position++] = value;
    return this;
  }

  string(field: number, value: string): this {
    if (value === "") return this;
    const count = value.length;
    if (count <= SHORT_STRING) {
      // Most strings are short ASCII: copied here, one byte per character, rather than through a
      // native call, in the same pass that finds whether they are (their length then fits one
      // byte). A string that is not ASCII is written again below, from its tag.
      const bytes = this.bytes;
      const start = this.position + 2;
      let index = 0;
      for (; index < count; index++) {
        const code = value.charCodeAt(index);
        if (code >= 0x80) break;
        bytes[start + index] = code;
      }
      if (index === count) {
        bytes[start - 2] = (field << 3) | LENGTH_DELIMITED;
        bytes[start - 1] = count;
        this.position = start + count;
        return this;
      }
    }
    this.tag(field, LENGTH_DELIMITED).varint(Buffer.byteLength(value, "utf8"));
    this.position += this.bytes.write(value, this.position, "utf8");
    return this;
  }

  bytesField(field: number, value: Uint8Array): this {
    if (value.length === 0) return this;
    this.tag(field, LENGTH_DELIMITED).varint(value.length);
    this.bytes.set(value, this.position);
    this.position += value.length;
    return this;
  }

  bool(field: number, value: boolean): this {
    if (value) this.tag(field, VARINT).varint(1);
    return this;
  }

  int32(field: number, value: number): this {
    if (value === 0) return this;
    if (value >= 0) return this.tag(field, VARINT).varint(value);
    return this.int64(field, BigInt(value));
  }

  int64(field: number, value: bigint): this {
    if (value === 0n) return this;
    this.tag(field, VARINT);
    const number = Number(value);
    if (number > 0 && number <= Number.MAX_SAFE_INTEGER) return this.varint(number);
    let rest = BigInt.asUintN(64, value);
    while (rest >= 0x80n) {
      this.bytes[this.position++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    this.bytes[this.position++] = Number(rest);
    return this;
  }
}
