import type { EncryptOptions } from "../../drivers/encryptor.js";
import { KmsCrypto } from "./kms-client.js";
import { resolveKmsSettings } from "./settings.js";

const ENCRYPT_DEADLINE_MS = 30_000;

/** `secretgate encrypt --kms google [--key RESOURCE] VALUE`: the base64 ciphertext for the environment. */
export async function encryptWithGoogleKms(plaintext: string, options: EncryptOptions): Promise<string> {
  if (Object.keys(options.context).length > 0) {
    // google_kms decrypts without additional authenticated data, so ciphertext bound to some would never decrypt.
    throw new Error("--context is an AWS KMS option; google_kms ciphertext carries no additional authenticated data");
  }
  const { resourceName, connection } = resolveKmsSettings(
    options.key !== undefined ? { resource_name: options.key } : {},
    options.env,
  );
  const crypto = new KmsCrypto(connection);
  try {
    const deadline = Date.now() + ENCRYPT_DEADLINE_MS;
    const ciphertext = await crypto.encrypt(resourceName, Buffer.from(plaintext, "utf8"), {
      team: {},
      deadline,
      signal: AbortSignal.timeout(ENCRYPT_DEADLINE_MS),
    });
    return Buffer.from(ciphertext).toString("base64");
  } finally {
    await crypto.close();
  }
}
