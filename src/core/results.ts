import { create } from "@bufbuild/protobuf";
import { type Timestamp, TimestampSchema } from "@bufbuild/protobuf/wkt";
import {
  type ItemError,
  ItemErrorSchema,
  type ReadResponse,
  ReadResponseSchema,
  type SecretResult,
  SecretResultSchema,
} from "../../gen/secretgate/v1/secret_service_pb.js";
import type { CachedRead } from "./cached-driver.js";
import { Code, printable, statusName } from "./errors.js";

/** ItemError.reason values (documented in the proto): what a client does about a miss depends on them. */
export const NOT_HOSTED = "NOT_HOSTED";
export const NOT_IN_BACKEND = "NOT_IN_BACKEND";

const NO_BYTES = new Uint8Array(0);

/**
 * A found item, built as the plain object protobuf-es messages are (every field set) rather
 * than through create(), which copies its init object field by field: this runs once per name
 * of every Read. `source` names the back end that answered (or `env`); `fallback` says it was a
 * route's fallback.
 */
export function foundResult(
  name: string,
  resolvedName: string,
  source: string,
  read: CachedRead,
  fallback: boolean,
): SecretResult {
  const value = read.value!;
  return {
    $typeName: SecretResultSchema.typeName,
    name,
    resolvedName,
    found: true,
    value: value.binary === undefined ? (value.text ?? "") : "",
    binaryValue: value.binary ?? NO_BYTES,
    source,
    version: value.version,
    fetchedAt: timestampOf(read.fetchedAt),
    fromCache: read.fromCache,
    stale: read.stale,
    error: undefined,
    fallback,
  };
}

/**
 * A Timestamp as `timestampFromMs` makes it, built as a plain object for the same reason as the
 * result (it copies its init through `create`): one per name of every Read.
 */
export function timestampOf(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { $typeName: TimestampSchema.typeName, seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** An explicit miss: NOT_FOUND with a reason and a message saying where it looked. */
export function missingResult(name: string, resolvedName: string, reason: string, message: string): SecretResult {
  return create(SecretResultSchema, {
    name,
    resolvedName,
    found: false,
    error: itemError(Code.NotFound, message, reason),
  });
}

/** One item's failure; the other items of the batch are unaffected. */
export function failedResult(name: string, code: Code, message: string): SecretResult {
  return create(SecretResultSchema, { name, error: itemError(code, message) });
}

/** The one place an item's error is made; its message is made printable as a ServiceError's is. */
export function itemError(code: Code, message: string, reason = ""): ItemError {
  return create(ItemErrorSchema, { code, status: statusName(code), message: printable(message), reason });
}

/** Built as a plain protobuf-es message (as `foundResult` is): one per Read. */
export function readResponse(results: SecretResult[]): ReadResponse {
  return { $typeName: ReadResponseSchema.typeName, results };
}
