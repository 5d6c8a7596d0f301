import { type Code, ConnectError } from "@connectrpc/connect";

/** The error a call failed with; fails the test when the call succeeded or threw something else. */
export async function connectFailure(promise: Promise<unknown>): Promise<ConnectError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ConnectError))
    throw new Error(
      error === undefined
        ? "the call succeeded, but was expected to fail"
        : `the call failed with ${String(error)}, not a ConnectError`,
    );
  return error;
}

/** The status code and message a call failed with; throws when the call succeeded. */
export async function callFailure(promise: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await promise;
  } catch (error) {
    const failure = ConnectError.from(error);
    return { code: failure.code, message: failure.rawMessage };
  }
  throw new Error("the call succeeded, but was expected to fail");
}
