import { Code } from "../core/errors.js";

// The KMS back ends decrypt values held in the service's own environment. A name reaches them
// from any caller allowed to read it, so what they answer must never tell a variable the service
// has from one it has not, unless the variable holds ciphertext that decrypts: a value that is
// not shaped like ciphertext, or that KMS refuses to decrypt, answers exactly like a missing one,
// and only ciphertext-shaped values are ever sent to KMS. Names the operator declared as holding
// ciphertext (hosted_keys, LiteLLM's bulk forms) are no secret — ListHosted shows them — and keep
// the errors that say what is wrong with them.

/**
 * The least ciphertext either KMS can make: both seal symmetric values with AES-256-GCM, whose
 * nonce (12 bytes) and tag (16 bytes) come with at least one byte of value.
 */
const MIN_CIPHERTEXT_BYTES = 12 + 16 + 1;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The bytes of canonical base64 (standard alphabet, `=` padding, no whitespace, as `secretgate
 * encrypt`, the AWS CLI and `gcloud kms encrypt | base64 -w0` print it) decoding to as many bytes
 * as a ciphertext of this KMS may have; undefined for anything else. Node's decoder skips stray
 * characters, so only a value that re-encodes to itself is taken.
 */
export function ciphertextBytes(text: string, maxBytes: number): Buffer | undefined {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  if (bytes.length < MIN_CIPHERTEXT_BYTES || bytes.length > maxBytes || bytes.toString("base64") !== text)
    return undefined;
  return bytes;
}

/**
 * A Decrypt failure that says "KMS will not decrypt this value for the service" — it is not that
 * KMS's ciphertext, is for another key or context, or the key is unusable or not the service's —
 * rather than "KMS cannot answer now" (throttled, unreachable, out of time), which a caller must
 * still be told.
 */
export function isDecryptRefusal(code: Code): boolean {
  return (
    code === Code.InvalidArgument ||
    code === Code.FailedPrecondition ||
    code === Code.NotFound ||
    code === Code.PermissionDenied ||
    code === Code.Unauthenticated
  );
}
