/**
 * Settles with the promise, or rejects with the signal's reason once it aborts. For shared work
 * (a login, a credential refresh, a retry wait) that one caller must stop waiting for at its own
 * deadline without cancelling it for the others.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
