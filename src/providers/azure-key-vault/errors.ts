import { isRestError } from "@azure/keyvault-secrets";
import { Code, ServiceError } from "../../core/errors.js";
import type { ClassifiedError } from "../../drivers/driver.js";

/** @azure/identity's failures: the credential could not get a token (wrong secret, no identity, …). */
const CREDENTIAL_ERRORS = new Set([
  "AuthenticationError",
  "AuthenticationRequiredError",
  "CredentialUnavailableError",
  "AggregateAuthenticationError",
]);

/**
 * What the Key Vault SDK and its pipeline throw as a plain Error (or a RestError without a
 * status), told apart by what they say. Each is about the vault's answer or the credential, so
 * none of them is INTERNAL: that is kept for errors that are secretgate's own bugs.
 */
/** One pattern matching what any of `patterns` matches (none of them has flags). */
function anyOf(...patterns: RegExp[]): RegExp {
  return new RegExp(patterns.map((pattern) => pattern.source).join("|"));
}

const SDK_REFUSALS: ReadonlyArray<{ says: RegExp; code: Code; meaning: string }> = [
  {
    // The SDK will not send a token to, or follow, what the vault's answer points at (a plain-http
    // or foreign-origin nextLink, a challenge naming another resource): like a TLS failure, the
    // vault cannot be used safely from here until its address or the path to it is fixed.
    says: anyOf(
      /must use HTTPS/,
      /not permitted for non-TLS protected/,
      /^The challenge (origin|resource) .* does not match/,
      /^The challenge contains an invalid scope/,
      /^The challenge authorization URI .* is invalid/,
    ),
    code: Code.Unavailable,
    meaning:
      "the Key Vault SDK refused Azure Key Vault's answer (check " +
      "AZURE_KEY_VAULT_URI or the team's vault_uri, and any proxy in between)",
  },
  {
    // The vault answered, but with something the SDK could not read.
    says: anyOf(
      /^Invalid \w+ identifier/,
      /^Couldn't paginate response/,
      /should be a string or undefined or null but got/,
      /^Polling (was unsuccessful|completed without succeeding or failing)/,
    ),
    code: Code.Unknown,
    meaning: "Azure Key Vault answered something the Key Vault SDK could not read",
  },
  {
    says: /^Failed to refresh access token/,
    code: Code.Unauthenticated,
    meaning: "the Azure credential gave no token for Key Vault",
  },
];

/** Key Vault refuses to read a disabled secret: 403 Forbidden with inner error SecretDisabled. */
export function isSecretDisabled(error: unknown): boolean {
  if (!isRestError(error) || error.statusCode !== 403) return false;
  const inner = (error.details as { error?: { innerError?: { code?: unknown } } } | undefined)?.error?.innerError?.code;
  return inner === "SecretDisabled" || /not allowed on a disabled secret/.test(error.message);
}

/** Maps what the SDK threw to a portable code and a message without values. */
export function classifyAzureError(error: unknown): ClassifiedError {
  if (error instanceof ServiceError) return { code: error.code, message: error.message };
  const failure = error as { name?: string; message?: string; statusCode?: number; code?: string };
  if (failure?.name === "AbortError")
    return { code: Code.DeadlineExceeded, message: "Azure Key Vault did not answer before the deadline" };
  if (failure?.name !== undefined && CREDENTIAL_ERRORS.has(failure.name)) {
    return {
      code: Code.Unauthenticated,
      message: `Azure credential could not get a token for Key Vault: ${firstLine(failure.message)}`,
    };
  }
  if (isRestError(error)) {
    const status = error.statusCode;
    if (status === undefined) {
      // A RestError with an error code but no status never reached the vault (refused, reset, TLS).
      if (error.code !== undefined)
        return { code: Code.Unavailable, message: `Azure Key Vault is unreachable: ${firstLine(error.message)}` };
      return (
        sdkRefusal(error.message) ?? {
          code: Code.Unknown,
          message: `the Key Vault SDK refused Azure Key Vault's answer: ${firstLine(error.message)}`,
        }
      );
    }
    const code = error.code ? ` ${error.code}` : "";
    const detail = `Azure Key Vault answered ${status}${code}: ${firstLine(error.message)}`;
    if (status === 429) {
      const retryAfterMs = retryAfter(error.response?.headers.get("retry-after"));
      return {
        code: Code.ResourceExhausted,
        message: `Azure Key Vault is throttling requests: ${detail}`,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    if (status === 400) return { code: Code.InvalidArgument, message: detail };
    if (status === 401) return { code: Code.Unauthenticated, message: detail };
    if (status === 403) return { code: Code.PermissionDenied, message: detail };
    if (status === 404) return { code: Code.NotFound, message: detail };
    if (status === 409) return { code: Code.Aborted, message: detail };
    if (status >= 500) return { code: Code.Unavailable, message: detail };
    return { code: Code.Unknown, message: detail };
  }
  const message = failure?.message ?? String(error);
  return sdkRefusal(message) ?? { code: Code.Internal, message: `Azure Key Vault call failed: ${firstLine(message)}` };
}

function sdkRefusal(message: string): ClassifiedError | undefined {
  const refusal = SDK_REFUSALS.find((candidate) => candidate.says.test(message));
  return refusal && { code: refusal.code, message: `${refusal.meaning}: ${firstLine(message)}` };
}

const firstLine = (message: string | undefined) => (message ?? "").split("\n")[0]!.slice(0, 500);

function retryAfter(header: string | undefined | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}
