import { Code } from "@connectrpc/connect";

/** What scripts can rely on; documented in docs/operations.md (CLI). */
export const ExitCode = {
  ok: 0,
  /** Anything not listed below. */
  failure: 1,
  /** Bad command line, or the server rejected the arguments (INVALID_ARGUMENT). */
  usage: 2,
  notFound: 3,
  /** UNAUTHENTICATED or PERMISSION_DENIED: the token is missing, wrong or not allowed this. */
  denied: 4,
  /** UNAVAILABLE or DEADLINE_EXCEEDED: the server or its back end is unreachable; worth retrying. */
  unavailable: 5,
} as const;

export function exitCodeFor(code: Code): number {
  switch (code) {
    case Code.NotFound:
      return ExitCode.notFound;
    case Code.InvalidArgument:
      return ExitCode.usage;
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return ExitCode.denied;
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return ExitCode.unavailable;
    default:
      return ExitCode.failure;
  }
}
