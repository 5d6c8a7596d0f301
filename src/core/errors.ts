import { Code } from "@connectrpc/connect";

export { Code };

/**
 * An error with a portable status code. The core, drivers and listeners all speak it;
 * each listener turns it into its protocol's status. Messages must never contain a
 * secret value: they name fields and secrets, not contents.
 */
export class ServiceError extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

export const invalidArgument = (message: string) => new ServiceError(Code.InvalidArgument, message);
export const notFound = (message: string) => new ServiceError(Code.NotFound, message);
export const failedPrecondition = (message: string) => new ServiceError(Code.FailedPrecondition, message);
export const permissionDenied = (message: string) => new ServiceError(Code.PermissionDenied, message);
export const unavailable = (message: string) => new ServiceError(Code.Unavailable, message);

const STATUS_NAMES = new Map<number, string>(
  Object.values(Code)
    .filter((value): value is Code => typeof value === "number")
    .map((code) => [code, Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()]),
);

/** The canonical gRPC name of a code, e.g. NOT_FOUND. */
export function statusName(code: Code): string {
  return STATUS_NAMES.get(code) ?? "UNKNOWN";
}
