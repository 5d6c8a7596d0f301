import { ServiceError } from "../../src/core/errors.js";

/**
 * The ServiceError a call into the core failed with; fails the test when it succeeded or threw
 * something else. A function is called, so what it throws before returning a promise counts too.
 */
export async function serviceFailure(call: Promise<unknown> | (() => unknown)): Promise<ServiceError> {
  const error = await Promise.resolve()
    .then(typeof call === "function" ? call : () => call)
    .then(
      () => undefined,
      (caught: unknown) => caught,
    );
  if (!(error instanceof ServiceError))
    throw new Error(
      error === undefined
        ? "the call succeeded, but was expected to fail"
        : `the call failed with ${String(error)}, not a ServiceError`,
    );
  return error;
}
