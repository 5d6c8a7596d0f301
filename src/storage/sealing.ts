import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from "node:crypto";

// Layout of a sealed value: format byte | 12-byte random nonce | ciphertext | 16-byte GCM tag.
const FORMAT_AES_256_GCM = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export const MASTER_KEY_BYTES = 32;

export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SealError";
  }
}

/**
 * Makes the KeyObject once: GCM with a KeyObject skips the per-call key schedule (docs/performance.md, "Measured
 * choices").
 */
export function toKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== MASTER_KEY_BYTES)
    throw new SealError(`a master key must be ${MASTER_KEY_BYTES} bytes, got ${raw.length}`);
  return createSecretKey(raw);
}

/**
 * Encrypts with AES-256-GCM under a fresh random nonce. `context` is bound as associated
 * data (e.g. the secret's name and version), so a sealed value moved to another row fails
 * to open instead of decrypting as the wrong secret.
 */
export function seal(key: KeyObject, plaintext: Uint8Array, context: string): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(context, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(FORMAT_AES_256_GCM), nonce, body, cipher.getAuthTag()]);
}

/** Decrypts what `seal` produced; throws SealError for a wrong key, wrong context or tampering. */
export function open(key: KeyObject, sealed: Uint8Array, context: string): Buffer {
  if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== FORMAT_AES_256_GCM) {
    throw new SealError("sealed value has an unknown format");
  }
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(context, "utf8"));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new SealError("sealed value failed authentication (wrong master key or tampered data)");
  }
}
