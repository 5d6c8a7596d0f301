import { create, equals } from "@bufbuild/protobuf";
import { TimestampSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { SecretResultSchema } from "../../../gen/secretgate/v1/secret_service_pb.js";
import { foundResult, timestampOf } from "../../../src/core/results.js";

// A found item and its timestamp are built as plain objects (results.ts says why): they must be
// the messages create() and timestampFromMs() make, field for field, or encoders and comparisons
// that rely on the message's shape see something else.
describe("read results", () => {
  it("a timestamp is the one timestampFromMs makes", () => {
    for (const ms of [0, 1, 999, 1000, 1001, 1_700_000_000_123, 4_102_444_800_999]) {
      const made = timestampOf(ms);
      expect(made).toStrictEqual(timestampFromMs(ms));
      expect(equals(TimestampSchema, made, timestampFromMs(ms))).toBe(true);
    }
  });

  it("a found item is the message create() makes, every field set", () => {
    const read = {
      value: { text: "sk-value", version: "7" },
      fromCache: true,
      stale: false,
      fetchedAt: 1_700_000_000_123,
    };
    const made = foundResult("OPENAI_API_KEY", "litellm/OPENAI_API_KEY", "local", read, true);
    const expected = create(SecretResultSchema, {
      name: "OPENAI_API_KEY",
      resolvedName: "litellm/OPENAI_API_KEY",
      found: true,
      value: "sk-value",
      source: "local",
      version: "7",
      fetchedAt: timestampFromMs(1_700_000_000_123),
      fromCache: true,
      fallback: true,
    });
    // `error` is held as undefined rather than left out: the same message to protobuf-es.
    expect(made).toEqual(expected);
    expect(equals(SecretResultSchema, made, expected)).toBe(true);
  });
});
