import { invalidArgument } from "../../core/errors.js";

/**
 * Decodes the base64 ciphertext held in an environment variable. Only canonical base64 (the
 * standard alphabet with '=' padding, no whitespace, as `gcloud kms encrypt` and
 * `secretgate encrypt` print it) is accepted: Node's decoder silently skips stray characters,
 * which would turn a truncated or mangled value into a confusing KMS decryption failure.
 */
export function decodeCiphertext(value: string, variable: string): Buffer {
  const bytes = Buffer.from(value, "base64");
  if (value === "" || bytes.length === 0 || bytes.toString("base64") !== value) {
    throw invalidArgument(
      `environment variable ${variable} does not hold canonical base64 ciphertext (standard alphabet, '=' padding, no whitespace)`,
    );
  }
  return bytes;
}
