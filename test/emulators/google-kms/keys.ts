import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { crc32c } from "../../../src/providers/google-common/crc32c.js";
import { EmulatorError } from "../google-common/faults.js";

type Message = Record<string, any>;

const MAX_PLAINTEXT_BYTES = 65_536;
const CRYPTO_KEY = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;
const FORMAT = 0x01;

/**
 * Cloud KMS symmetric keys with the API's integrity rules: a CRC32C sent with the input is
 * checked (INVALID_ARGUMENT on mismatch) and every output carries its own. Ciphertext is
 * AES-256-GCM bound to the key name, so decrypting under another key fails as KMS does.
 */
export class KmsKeys {
  private readonly keys = new Map<string, Buffer>();
  /** Decrypt answers whose plaintext is corrupted in transit (one byte flipped, checksum kept). */
  corruptDecrypts = 0;

  create(name: string): string {
    if (!CRYPTO_KEY.test(name))
      throw new EmulatorError(
        status.INVALID_ARGUMENT,
        `${name} must be projects/*/locations/*/keyRings/*/cryptoKeys/*`,
      );
    if (!this.keys.has(name)) this.keys.set(name, randomBytes(32));
    return name;
  }

  encrypt(request: Message): Message {
    // Encrypt also takes a CryptoKeyVersion name and uses it as its key's primary.
    const name = String(request.name ?? "").replace(/\/cryptoKeyVersions\/[^/]+$/, "");
    const material = this.key(name);
    const plaintext = Buffer.from(request.plaintext ?? []);
    if (plaintext.length > MAX_PLAINTEXT_BYTES)
      throw invalid(`The plaintext is ${plaintext.length} bytes; the limit is ${MAX_PLAINTEXT_BYTES}.`);
    const verified = checkInput(plaintext, request.plaintextCrc32c, "plaintext");
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", material, iv);
    cipher.setAAD(associatedData(name, request.additionalAuthenticatedData));
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const ciphertext = Buffer.concat([Buffer.from([FORMAT]), iv, cipher.getAuthTag(), sealed]);
    return {
      name: `${name}/cryptoKeyVersions/1`,
      ciphertext,
      ciphertextCrc32c: { value: String(crc32c(ciphertext)) },
      verifiedPlaintextCrc32c: verified,
      verifiedAdditionalAuthenticatedDataCrc32c: false,
      protectionLevel: "SOFTWARE",
    };
  }

  decrypt(request: Message): Message {
    const name = String(request.name ?? "");
    const material = this.key(name);
    const ciphertext = Buffer.from(request.ciphertext ?? []);
    checkInput(ciphertext, request.ciphertextCrc32c, "ciphertext");
    let plaintext: Buffer;
    try {
      if (ciphertext[0] !== FORMAT || ciphertext.length < 29) throw new Error("format");
      const decipher = createDecipheriv("aes-256-gcm", material, ciphertext.subarray(1, 13));
      decipher.setAuthTag(ciphertext.subarray(13, 29));
      decipher.setAAD(associatedData(name, request.additionalAuthenticatedData));
      plaintext = Buffer.concat([decipher.update(ciphertext.subarray(29)), decipher.final()]);
    } catch {
      throw invalid("Decryption failed: the ciphertext is invalid.");
    }
    const checksum = crc32c(plaintext);
    if (this.corruptDecrypts > 0 && plaintext.length > 0) {
      this.corruptDecrypts -= 1;
      plaintext[0] = plaintext[0]! ^ 0x01;
    }
    return { plaintext, plaintextCrc32c: { value: String(checksum) }, usedPrimary: true, protectionLevel: "SOFTWARE" };
  }

  private key(name: string): Buffer {
    if (!CRYPTO_KEY.test(name)) throw invalid(`Resource name [${name}] does not represent a valid CryptoKey.`);
    const material = this.keys.get(name);
    if (!material) throw new EmulatorError(status.NOT_FOUND, `CryptoKey ${name} not found.`);
    return material;
  }
}

const invalid = (message: string) => new EmulatorError(status.INVALID_ARGUMENT, message);

/** Whether a checksum was sent (and matched); a mismatch is INVALID_ARGUMENT, as KMS answers. */
function checkInput(data: Buffer, checksum: Message | undefined | null, field: string): boolean {
  if (checksum === undefined || checksum === null || checksum.value === undefined) return false;
  if (Number(checksum.value) !== crc32c(data)) {
    throw invalid(`The checksum in field ${field}_crc32c did not match the data in field ${field}.`);
  }
  return true;
}

function associatedData(name: string, aad: Uint8Array | undefined): Buffer {
  return Buffer.concat([Buffer.from(`${name}\0`, "utf8"), Buffer.from(aad ?? [])]);
}
