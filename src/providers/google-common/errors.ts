import { Code } from "../../core/errors.js";
import type { ClassifiedError } from "../../drivers/driver.js";

/** gRPC status codes 0–16; the portable Code enum uses the same numbers. */
const HIGHEST_GRPC_CODE = 16;

/**
 * Over REST the SDK may report the HTTP status in `err.code` (or only in `httpStatusCode`)
 * instead of a gRPC code; this is the mapping google.rpc.Code documents for HTTP.
 */
const HTTP_TO_GRPC: Record<number, Code> = {
  400: Code.InvalidArgument,
  401: Code.Unauthenticated,
  403: Code.PermissionDenied,
  404: Code.NotFound,
  409: Code.AlreadyExists,
  412: Code.FailedPrecondition,
  429: Code.ResourceExhausted,
  499: Code.Canceled,
  500: Code.Internal,
  501: Code.Unimplemented,
  503: Code.Unavailable,
  504: Code.DeadlineExceeded,
};

/** The gRPC status of an SDK error, whichever transport produced it; undefined when it carries none. */
export function grpcStatusOf(error: unknown): Code | undefined {
  if (error === null || typeof error !== "object") return undefined;
  const { code, httpStatusCode } = error as { code?: unknown; httpStatusCode?: unknown };
  if (typeof code === "number" && code >= 0 && code <= HIGHEST_GRPC_CODE) return code as Code;
  const http =
    typeof code === "number" && code >= 100 ? code : typeof httpStatusCode === "number" ? httpStatusCode : undefined;
  if (http === undefined) return undefined;
  return HTTP_TO_GRPC[http] ?? (http >= 500 ? Code.Unavailable : http >= 400 ? Code.FailedPrecondition : Code.Unknown);
}

const MAX_MESSAGE_LENGTH = 500;

/**
 * Classifies an error from a Google SDK call. Google's messages name resources (projects,
 * secrets, versions, keys), never payloads, so they are kept, shortened, after the service name.
 */
export function classifyGoogleError(error: unknown, service: string): ClassifiedError {
  const message = shorten(error instanceof Error ? error.message : String(error));
  if (error instanceof Error && error.name === "AbortError")
    return { code: Code.Canceled, message: `the call to ${service} was cancelled` };
  const status = grpcStatusOf(error);
  if (status !== undefined && status !== Code.Unknown) return { code: status, message: `${service}: ${message}` };
  const systemCode = (error as { code?: unknown } | null)?.code;
  if (
    typeof systemCode === "string" &&
    /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH)$/.test(systemCode)
  ) {
    return { code: Code.Unavailable, message: `${service} is unreachable: ${message}` };
  }
  if (/credential|authenticat/i.test(message)) {
    return { code: Code.Unauthenticated, message: `${service}: no usable Google credentials: ${message}` };
  }
  return { code: Code.Internal, message: `${service} failed: ${message}` };
}

function shorten(message: string): string {
  const firstLine = message.split("\n")[0] ?? "";
  return firstLine.length > MAX_MESSAGE_LENGTH ? `${firstLine.slice(0, MAX_MESSAGE_LENGTH)}…` : firstLine;
}
