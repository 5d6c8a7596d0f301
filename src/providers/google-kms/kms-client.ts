import { KeyManagementServiceClient } from "@google-cloud/kms";
import { Code, ServiceError } from "../../core/errors.js";
import type { DriverCall } from "../../drivers/driver.js";
import { callWithRetries } from "../google-common/calls.js";
import { clientOptions } from "../google-common/client-options.js";
import type { GoogleConnection } from "../google-common/connection.js";
import { checksumMatches, checksumValue, crc32c } from "../google-common/crc32c.js";

/** Encrypt and Decrypt are stateless: retried when throttled or briefly unreachable. */
const RETRIES = [Code.ResourceExhausted, Code.Unavailable];

/**
 * Cloud KMS Encrypt / Decrypt with the integrity fields the API documents: a CRC32C of what
 * is sent, checked by KMS, and of what comes back, checked here. A mismatch is DATA_LOSS.
 */
export class KmsCrypto {
  private readonly client: KeyManagementServiceClient;

  constructor(connection: GoogleConnection) {
    this.client = new KeyManagementServiceClient(clientOptions(connection));
  }

  async decrypt(key: string, ciphertext: Uint8Array, call: DriverCall): Promise<Uint8Array> {
    const [response] = await callWithRetries(call, RETRIES, (options) =>
      this.client.decrypt({ name: key, ciphertext, ciphertextCrc32c: { value: crc32c(ciphertext) } }, options),
    );
    const plaintext = toBytes(response.plaintext);
    if (
      checksumValue(response.plaintextCrc32c) === undefined ||
      !checksumMatches(plaintext, response.plaintextCrc32c)
    ) {
      throw new ServiceError(
        Code.DataLoss,
        `Cloud KMS returned a plaintext that failed its CRC32C check for key ${key}; it was discarded`,
      );
    }
    return plaintext;
  }

  async encrypt(key: string, plaintext: Uint8Array, call: DriverCall): Promise<Uint8Array> {
    const [response] = await callWithRetries(call, RETRIES, (options) =>
      this.client.encrypt({ name: key, plaintext, plaintextCrc32c: { value: crc32c(plaintext) } }, options),
    );
    const ciphertext = toBytes(response.ciphertext);
    if (!response.verifiedPlaintextCrc32c) {
      throw new ServiceError(
        Code.DataLoss,
        `Cloud KMS did not confirm the plaintext checksum for key ${key}; the request may have been corrupted`,
      );
    }
    if (!checksumMatches(ciphertext, response.ciphertextCrc32c)) {
      throw new ServiceError(
        Code.DataLoss,
        `Cloud KMS returned a ciphertext that failed its CRC32C check for key ${key}`,
      );
    }
    return ciphertext;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

function toBytes(value: Uint8Array | string | null | undefined): Uint8Array {
  if (value === null || value === undefined) return new Uint8Array();
  return typeof value === "string" ? Buffer.from(value, "base64") : value;
}
