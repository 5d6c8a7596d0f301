import { Code, ConnectError } from "@connectrpc/connect";

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
