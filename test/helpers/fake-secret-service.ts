import { create, type DescService } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ReadResponseSchema, WriteResponseSchema } from "../../gen/secretgate/v1/secret_service_pb.js";
import type { AuthorizedCall, ServiceImplementation } from "../../src/core/call-context.js";
import { Code, ServiceError } from "../../src/core/errors.js";

/**
 * The fake SecretService behind both fast paths' differential tests
 * (test/unit/server/fast-path/unary-calls.test.ts and grpc-unary-calls.test.ts): each call goes to
 * a listener on the fast path and to one on the library, both over this service, and the answers
 * must be the same.
 */

/** A cache-hit Read's answer for `name`. */
export function readResult(name: string, value: string) {
  return create(ReadResponseSchema, {
    results: [
      {
        name,
        found: true,
        value,
        source: "local",
        version: "7",
        fetchedAt: timestampFromMs(1_700_000_000_123),
        fromCache: true,
        resolvedName: name,
      },
    ],
  });
}

/** An implementation of `service` whose every method fails UNIMPLEMENTED: what a fake leaves out. */
export function unimplemented<S extends DescService>(service: S): ServiceImplementation<S> {
  const fail = (name: string) => () => {
    throw new ServiceError(Code.Unimplemented, `${name} is not faked here`);
  };
  return Object.fromEntries(
    service.methods.map((method) => [method.localName, fail(method.name)]),
  ) as unknown as ServiceImplementation<S>;
}

/**
 * The Read answers both tests share, by the first name asked for; undefined for a name that is the
 * test's own. CODE_<n> fails with status n (ASYNC_CODE_<n> by a rejection) and a message that needs
 * escaping; ASYNC answers on a later turn; BIG is a large answer; EMPTY_MESSAGE fails with no
 * message; LONE_SURROGATE fails with a message neither library can write (grpc-js's encodeURI and
 * connect-node's encodeURIComponent throw on it); BUG is a bug of ours (a TypeError); DEADLINE
 * answers the seconds left of the call's deadline.
 */
export function sharedRead(name: string, call: AuthorizedCall): unknown {
  const code = /^(ASYNC_)?CODE_(\d+)$/.exec(name);
  if (code) {
    const error = new ServiceError(Number(code[2]), `refused ${code[2]}: ünïcödé "quoted" 100% <x>\nline`);
    if (code[1]) return Promise.reject(error);
    throw error;
  }
  switch (name) {
    case "ASYNC":
      return new Promise((resolve) => setImmediate(() => resolve(readResult(name, "async-value"))));
    case "BIG":
      return readResult(name, "v".repeat(3000));
    case "EMPTY_MESSAGE":
      throw new ServiceError(Code.NotFound, "");
    case "LONE_SURROGATE":
      throw new ServiceError(Code.InvalidArgument, "a lone \ud800 surrogate");
    case "BUG":
      throw new TypeError("a bug");
    case "DEADLINE":
      return readResult(
        name,
        call.deadline === undefined ? "none" : String(Math.round((call.deadline - Date.now()) / 1000)),
      );
    default:
      return undefined;
  }
}

/** The fake's Write: the name as LiteLLM's prefix would store it, version 3. */
export function fakeWrite(request: { name: string }) {
  return Promise.resolve(
    create(WriteResponseSchema, { name: `litellm/${request.name}`, version: "3", source: "local" }),
  );
}
