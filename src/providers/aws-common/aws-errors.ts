import { Code, ServiceError } from "../../core/errors.js";
import type { ClassifiedError } from "../../drivers/driver.js";

/** What the driver was doing, for the message: e.g. `aws_secret_manager GetSecretValue of "litellm/key"`. */
export interface ErrorSubject {
  system: string;
  operation?: string;
  name?: string;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/** AWS error names (JSON `__type`, STS `Code`) and the portable code each means. */
const CODES: Record<string, Code> = {
  ResourceNotFoundException: Code.NotFound,
  ResourceExistsException: Code.AlreadyExists,
  ThrottlingException: Code.ResourceExhausted,
  Throttling: Code.ResourceExhausted,
  TooManyRequestsException: Code.ResourceExhausted,
  LimitExceededException: Code.ResourceExhausted,
  RequestLimitExceeded: Code.ResourceExhausted,
  AccessDeniedException: Code.PermissionDenied,
  AccessDenied: Code.PermissionDenied,
  UnrecognizedClientException: Code.PermissionDenied,
  InvalidClientTokenId: Code.PermissionDenied,
  InvalidSignatureException: Code.PermissionDenied,
  SignatureDoesNotMatch: Code.PermissionDenied,
  ExpiredTokenException: Code.PermissionDenied,
  ExpiredToken: Code.PermissionDenied,
  InvalidIdentityToken: Code.PermissionDenied,
  InvalidIdentityTokenException: Code.PermissionDenied,
  IDPRejectedClaim: Code.PermissionDenied,
  IncompleteSignature: Code.PermissionDenied,
  InvalidParameterException: Code.InvalidArgument,
  ValidationException: Code.InvalidArgument,
  ValidationError: Code.InvalidArgument,
  MalformedPolicyDocumentException: Code.InvalidArgument,
  InvalidRequestException: Code.FailedPrecondition,
  PreconditionNotMetException: Code.FailedPrecondition,
  EncryptionFailure: Code.FailedPrecondition,
  DecryptionFailure: Code.FailedPrecondition,
  InvalidCiphertextException: Code.FailedPrecondition,
  IncorrectKeyException: Code.FailedPrecondition,
  InvalidKeyUsageException: Code.FailedPrecondition,
  DisabledException: Code.FailedPrecondition,
  KMSInvalidStateException: Code.FailedPrecondition,
  NotFoundException: Code.FailedPrecondition,
  KeyUnavailableException: Code.Unavailable,
  DependencyTimeoutException: Code.Unavailable,
  InternalServiceError: Code.Unavailable,
  InternalFailure: Code.Unavailable,
  KMSInternalException: Code.Unavailable,
  ServiceUnavailable: Code.Unavailable,
  ServiceUnavailableException: Code.Unavailable,
  CredentialsProviderError: Code.FailedPrecondition,
};

/** Extra words for errors whose AWS name alone would puzzle an operator. */
const EXPLANATIONS: Record<string, string> = {
  ThrottlingException: "AWS throttled the call and the SDK's retries were used up",
  InvalidCiphertextException: "the ciphertext is not valid for this key, or its encryption context does not match",
  CredentialsProviderError:
    "no AWS credentials were found (set " +
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, aws_profile_name, " +
    "aws_role_name or a web identity)",
  UnrecognizedClientException: "AWS did not recognise secretgate's access key",
  InvalidSignatureException: "AWS rejected the request signature (wrong secret access key?)",
};

/** True for Secrets Manager's "scheduled for deletion" refusal (an InvalidRequestException). */
export function isScheduledForDeletion(error: unknown): boolean {
  const failure = error as { name?: string; message?: string };
  return failure?.name === "InvalidRequestException" && /deletion|deleted/i.test(failure.message ?? "");
}

export function awsErrorName(error: unknown): string | undefined {
  return (error as { name?: string })?.name;
}

/**
 * Maps SDK and network failures into portable codes. Messages carry AWS's error name and
 * message (which name resources, never values) and what the driver was doing.
 */
export function classifyAwsError(error: unknown, subject: ErrorSubject): ClassifiedError {
  if (error instanceof ServiceError) return { code: error.code, message: error.message };
  const failure = (error ?? {}) as {
    name?: string;
    message?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const what = describe(subject);
  const name = failure.name ?? "Error";
  // The SDK names a dropped connection TimeoutError too; its network code tells them apart.
  const networkCode = failure.code ?? (error as { cause?: { code?: string } })?.cause?.code;
  if (networkCode && NETWORK_CODES.has(networkCode)) {
    return { code: Code.Unavailable, message: `${what}: cannot reach AWS (${networkCode})` };
  }
  if (name === "AbortError" || name === "TimeoutError") {
    return { code: Code.DeadlineExceeded, message: `${what}: AWS did not answer before the deadline` };
  }
  if (isScheduledForDeletion(error)) {
    return {
      code: Code.NotFound,
      message: `${what}: the secret is scheduled for deletion (write it again to restore it)`,
    };
  }
  const code = CODES[name] ?? fromStatus(failure.$metadata?.httpStatusCode);
  const awsMessage = (failure.message ?? "").slice(0, 300);
  const explanation = EXPLANATIONS[name];
  return {
    code,
    message: `${what}: ${explanation ? `${explanation}: ` : ""}${name}${awsMessage ? `: ${awsMessage}` : ""}`,
  };
}

function fromStatus(status: number | undefined): Code {
  if (status === undefined) return Code.Internal;
  if (status === 429) return Code.ResourceExhausted;
  if (status === 403) return Code.PermissionDenied;
  if (status === 404) return Code.NotFound;
  if (status >= 500) return Code.Unavailable;
  return Code.Internal;
}

function describe({ system, operation, name }: ErrorSubject): string {
  return [system, operation, name !== undefined ? `of ${JSON.stringify(name)}` : undefined].filter(Boolean).join(" ");
}
