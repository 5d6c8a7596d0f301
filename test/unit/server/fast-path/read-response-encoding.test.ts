import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  ItemErrorSchema,
  type ReadResponse,
  ReadResponseSchema,
  type SecretResult,
  SecretResultSchema,
} from "../../../../gen/secretgate/v1/secret_service_pb.js";
import {
  ENCODED_ERROR_FIELDS,
  ENCODED_RESULT_FIELDS,
  encodeReadResponse,
  encodeReadResponseFramed,
} from "../../../../src/server/fast-path/read-response-encoding.js";

/** The bytes toBinary produces, alone and behind gRPC's message prefix (uncompressed, the length). */
function expectSameBytes(response: ReadResponse): void {
  const expected = Buffer.from(toBinary(ReadResponseSchema, response));
  const actual = encodeReadResponse(response);
  expect(actual.toString("hex")).toBe(expected.toString("hex"));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(expected.length, 1);
  expect(encodeReadResponseFramed(response).toString("hex")).toBe(Buffer.concat([prefix, expected]).toString("hex"));
}

function everyField(): SecretResult {
  return create(SecretResultSchema, {
    name: "OPENAI_API_KEY",
    found: true,
    value: "value-1",
    binaryValue: new Uint8Array([0, 1, 2, 255]),
    source: "local",
    version: "3",
    fetchedAt: create(TimestampSchema, { seconds: 1_790_000_000n, nanos: 123_000_000 }),
    fromCache: true,
    stale: true,
    error: create(ItemErrorSchema, { code: 5, status: "NOT_FOUND", message: "not there", reason: "NOT_HOSTED" }),
    resolvedName: "litellm/OPENAI_API_KEY",
    fallback: true,
  });
}

/** A small deterministic generator, so a failure reproduces. */
function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe("encodeReadResponse", () => {
  it("writes every SecretResult field the generated schema has (a new field must be taught to the encoder)", () => {
    const schemaFields = Object.fromEntries(SecretResultSchema.fields.map((field) => [field.number, field.localName]));
    expect(schemaFields).toEqual(ENCODED_RESULT_FIELDS);
  });

  it("writes every ItemError field the generated schema has", () => {
    const schemaFields = Object.fromEntries(ItemErrorSchema.fields.map((field) => [field.number, field.localName]));
    expect(schemaFields).toEqual(ENCODED_ERROR_FIELDS);
  });

  it("produces the bytes toBinary produces with every field set", () => {
    expectSameBytes(create(ReadResponseSchema, { results: [everyField()] }));
  });

  it("produces the bytes toBinary produces for an empty response and for default-valued results", () => {
    expectSameBytes(create(ReadResponseSchema, {}));
    expectSameBytes(
      create(ReadResponseSchema, {
        results: [
          create(SecretResultSchema, {}),
          create(SecretResultSchema, { fetchedAt: create(TimestampSchema, {}) }),
        ],
      }),
    );
  });

  it("handles multi-byte lengths, non-ASCII text, negative and 64-bit numbers", () => {
    const long = "k".repeat(20_000);
    expectSameBytes(
      create(ReadResponseSchema, {
        results: [
          create(SecretResultSchema, { name: "ключ/🔑", value: long, found: true, version: "é".repeat(100) }),
          // ASCII and non-ASCII strings either side of the length up to which strings are copied in JavaScript.
          create(SecretResultSchema, {
            name: "a".repeat(64),
            value: "b".repeat(65),
            source: "é",
            version: `${"x".repeat(63)}é`,
            resolvedName: "\u007f\u0080",
          }),
          create(SecretResultSchema, {
            binaryValue: new Uint8Array(300).fill(7),
            fetchedAt: create(TimestampSchema, { seconds: -62_135_596_800n, nanos: 1 }),
          }),
          create(SecretResultSchema, { fetchedAt: create(TimestampSchema, { seconds: 2n ** 62n + 5n }) }),
          create(SecretResultSchema, {
            error: create(ItemErrorSchema, { code: -1, status: "", message: "m".repeat(200) }),
          }),
        ],
      }),
    );
  });

  it("matches toBinary on many generated responses", () => {
    const random = generator(7);
    const text = () =>
      random() < 0.3 ? "" : "abcé🔑/_-".repeat(Math.floor(random() * 40)).slice(0, Math.floor(random() * 300));
    for (let round = 0; round < 300; round++) {
      const results = Array.from({ length: Math.floor(random() * 5) }, () =>
        create(SecretResultSchema, {
          name: text(),
          found: random() < 0.5,
          value: text(),
          binaryValue:
            random() < 0.2
              ? new Uint8Array(Math.floor(random() * 200)).map(() => Math.floor(random() * 256))
              : new Uint8Array(),
          source: text(),
          version: text(),
          ...(random() < 0.7
            ? {
                fetchedAt: create(TimestampSchema, {
                  seconds: BigInt(Math.floor(random() * 2 ** 40)),
                  nanos: Math.floor(random() * 1e9),
                }),
              }
            : {}),
          fromCache: random() < 0.5,
          stale: random() < 0.2,
          ...(random() < 0.3
            ? {
                error: create(ItemErrorSchema, {
                  code: Math.floor(random() * 17),
                  status: text(),
                  message: text(),
                  reason: text(),
                }),
              }
            : {}),
          resolvedName: text(),
          fallback: random() < 0.3,
        }),
      );
      expectSameBytes(create(ReadResponseSchema, { results }));
    }
  });

  it("keeps unknown fields a message carries (through toBinary)", () => {
    const result = everyField();
    result.$unknown = [{ no: 99, wireType: 2, data: new Uint8Array([3, 1, 2, 3]) }];
    const response = create(ReadResponseSchema, { results: [result] });
    expectSameBytes(response);
    expect(fromBinary(SecretResultSchema, toBinary(SecretResultSchema, result)).$unknown).toHaveLength(1);
  });
});
