import { Code, ServiceError } from "../../core/errors.js";
import type { ClassifiedError } from "../../drivers/driver.js";
import { CredentialFileError, VaultLoginError } from "./token-session.js";
import { VaultApiError } from "./vault-http.js";

/**
 * A Vault failure as a portable code: its API's status, a failed login (our credentials not
 * accepted, unless Vault was throttling or away), or a network or TLS failure reaching `address`.
 * Messages name paths and Vault's own errors, never a value or a token.
 */
export function classifyVaultError(error: unknown, address: URL): ClassifiedError {
  if (error instanceof ServiceError) return { code: error.code, message: error.message };
  if (error instanceof VaultLoginError) return classifyLoginError(error, address);
  if (error instanceof VaultApiError) return classifyApiError(error);
  const network = networkFailure(error);
  if (network) return { code: Code.Unavailable, message: `Vault at ${address.origin} is unreachable: ${network}` };
  return { code: Code.Internal, message: `Vault call failed: ${(error as Error)?.message ?? String(error)}` };
}

function classifyLoginError(error: VaultLoginError, address: URL): ClassifiedError {
  const { cause, message } = error;
  if (cause instanceof CredentialFileError) return { code: Code.FailedPrecondition, message };
  if (cause instanceof Error && cause.name === "TimeoutError") return { code: Code.Unavailable, message };
  const inner = classifyVaultError(cause, address);
  // Throttling and outages stay what they are; any other refusal means our credentials were not accepted.
  const transient = inner.code === Code.Unavailable || inner.code === Code.ResourceExhausted;
  if (transient)
    return { ...inner, message: `secretgate could not log in to Vault (${error.method} auth): ${inner.message}` };
  return { ...inner, code: Code.PermissionDenied, message };
}

function classifyApiError(error: VaultApiError): ClassifiedError {
  const { status, message } = error;
  const code =
    status === 400
      ? Code.InvalidArgument
      : status === 403
        ? Code.PermissionDenied
        : status === 404
          ? Code.NotFound
          : status === 429
            ? Code.ResourceExhausted
            : status === 501
              ? Code.Unimplemented
              : status === 412 || status === 502 || status === 503 || status === 504
                ? Code.Unavailable
                : status >= 500
                  ? Code.Internal
                  : Code.Unknown;
  return { code, message, ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}) };
}

const NETWORK_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNABORTED",
]);

/** A connection or TLS failure, described without anything but the error code; undefined for other errors. */
function networkFailure(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (typeof code !== "string") return undefined;
  if (NETWORK_ERROR_CODES.has(code)) return code;
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code))
    return `${code} (check HCP_VAULT_CACERT and the client certificate)`;
  return undefined;
}
