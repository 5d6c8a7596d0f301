import { Code, ServiceError } from "../../core/errors.js";
import type { ClassifiedError } from "../../drivers/driver.js";
import { ConjurHttpError } from "./http.js";

/** A Conjur failure as a portable code: its HTTP status, a network or TLS failure, or a deadline; never a value. */
export function classifyConjurError(error: unknown): ClassifiedError {
  if (error instanceof ServiceError) return { code: error.code, message: error.message };
  if (error instanceof ConjurHttpError) {
    const status = error.status;
    if (status === 400 || status === 422) return { code: Code.InvalidArgument, message: error.message };
    if (status === 401) return { code: Code.Unauthenticated, message: error.message };
    if (status === 403) return { code: Code.PermissionDenied, message: error.message };
    if (status === 404) return { code: Code.NotFound, message: error.message };
    if (status === 409) return { code: Code.Aborted, message: error.message };
    if (status === 429) {
      const seconds = Number(error.retryAfter);
      return {
        code: Code.ResourceExhausted,
        message: error.message,
        ...(error.retryAfter && Number.isFinite(seconds) ? { retryAfterMs: seconds * 1000 } : {}),
      };
    }
    if (status >= 500) return { code: Code.Unavailable, message: error.message };
    return { code: Code.Unknown, message: error.message };
  }
  const failure = error as NodeJS.ErrnoException;
  if (failure?.name === "AbortError")
    return { code: Code.DeadlineExceeded, message: "Conjur did not answer before the deadline" };
  if (
    typeof failure?.code === "string" &&
    /^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|ETIMEDOUT|EPIPE|EAI_AGAIN)$/.test(failure.code)
  ) {
    return { code: Code.Unavailable, message: `Conjur is unreachable: ${failure.code}` };
  }
  if (typeof failure?.code === "string" && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|SIGNATURE/.test(failure.code)) {
    return {
      code: Code.Unavailable,
      message: `TLS with Conjur failed: ${failure.code} (set NODE_EXTRA_CA_CERTS to its CA)`,
    };
  }
  return { code: Code.Internal, message: `Conjur call failed: ${failure?.message ?? String(error)}` };
}
