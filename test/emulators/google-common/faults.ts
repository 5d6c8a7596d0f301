import { status } from "@grpc/grpc-js";
import { type AppliedFault, type FaultInjector, sleep } from "../common/faults.js";

/** A failure with a gRPC status; the REST front end answers the matching HTTP status. */
export class EmulatorError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/** What an emulator tells the fault injector about one call, for faults aimed at a name. */
export interface FaultTarget {
  /** The secret (or key) the call names. */
  target?: string;
  /** Stores another writer's value on the target, as a second client would (`interleave`). */
  interleave?(value: string): void;
  /** The service's own "not found" for the call (`lag`). */
  missing?(): EmulatorError;
}

/**
 * Counts the call and applies the fault set for it, if any: `throttle` → RESOURCE_EXHAUSTED
 * (the quota error Google sends), `error` → the gRPC code in `status` (default UNAVAILABLE),
 * `drop` → UNAVAILABLE (what a client sees when the connection goes), `latency` → a delay,
 * `hold` → waits for the test's release, `lag` → NOT_FOUND as for a name not written yet.
 */
export async function applyFault(faults: FaultInjector, operation: string, call: FaultTarget = {}): Promise<void> {
  const rule: AppliedFault | undefined = faults.next(operation, call.target);
  if (!rule) return;
  if (rule.interleave) call.interleave?.(rule.interleave.value);
  if (rule.latencyMs) await sleep(rule.latencyMs);
  switch (rule.kind) {
    case "latency":
      return;
    case "hold":
      await rule.released;
      return;
    case "throttle":
      throw new EmulatorError(
        status.RESOURCE_EXHAUSTED,
        `Quota exceeded for quota metric '${operation} requests' and limit '${operation} requests per minute per project'.`,
      );
    case "error":
      throw new EmulatorError(rule.status ?? status.UNAVAILABLE, `injected fault on ${operation}`);
    case "drop":
      throw new EmulatorError(status.UNAVAILABLE, "Connection dropped");
    case "lag":
      throw call.missing?.() ?? new EmulatorError(status.NOT_FOUND, `${operation}: not found`);
  }
}

/** HTTP status for a gRPC code, as Google's HTTP/JSON front end maps them. */
export function httpStatusOf(code: status): number {
  const map: Partial<Record<status, number>> = {
    [status.INVALID_ARGUMENT]: 400,
    [status.FAILED_PRECONDITION]: 400,
    [status.OUT_OF_RANGE]: 400,
    [status.UNAUTHENTICATED]: 401,
    [status.PERMISSION_DENIED]: 403,
    [status.NOT_FOUND]: 404,
    [status.ALREADY_EXISTS]: 409,
    [status.ABORTED]: 409,
    [status.RESOURCE_EXHAUSTED]: 429,
    [status.CANCELLED]: 499,
    [status.UNIMPLEMENTED]: 501,
    [status.UNAVAILABLE]: 503,
    [status.DEADLINE_EXCEEDED]: 504,
  };
  return map[code] ?? 500;
}
