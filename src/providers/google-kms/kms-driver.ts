import { createHash } from "node:crypto";
import { ServiceError } from "../../core/errors.js";
import type { ClassifiedError, DriverCall, SecretDriver, SecretValue } from "../../drivers/driver.js";
import { classifyGoogleError } from "../google-common/errors.js";
import { decodePayload } from "../google-common/payload.js";
import { decodeCiphertext } from "./ciphertext.js";
import type { KmsCrypto } from "./kms-client.js";
import { envValue, type Env } from "../../config/env.js";

export const SERVICE = "google_kms";

/**
 * `google_kms`: a name's environment value is base64 ciphertext and a read returns its
 * Cloud KMS decryption (SPEC §3.5). Nothing is stored, so write, delete and list do not exist.
 */
export class KmsDriver implements SecretDriver {
  readonly capabilities = { write: false, binary: false, list: false, sdkRetries: true };

  constructor(
    private readonly crypto: KmsCrypto,
    private readonly resourceName: string,
    private readonly env: Env,
  ) {}

  async read(name: string, call: DriverCall): Promise<SecretValue | undefined> {
    const value = envValue(this.env, name);
    if (value === undefined) return undefined;
    const ciphertext = decodeCiphertext(value, name);
    const key = (call.team.resource_name as string | undefined) ?? this.resourceName;
    const plaintext = await this.crypto.decrypt(key, ciphertext, call);
    // KMS keeps no versions of a value; a digest of the ciphertext changes exactly when the value does.
    return { ...decodePayload(plaintext), version: createHash("sha256").update(ciphertext).digest("hex").slice(0, 16) };
  }

  async write(): Promise<never> {
    throw new Error("google_kms only decrypts; the core refuses writes before calling the driver");
  }

  async delete(): Promise<never> {
    throw new Error("google_kms only decrypts; the core refuses deletes before calling the driver");
  }

  locationKey(team: Readonly<Record<string, unknown>>): string {
    return (team.resource_name as string | undefined) ?? this.resourceName;
  }

  classifyError(error: unknown): ClassifiedError {
    if (error instanceof ServiceError) return { code: error.code, message: error.message };
    return classifyGoogleError(error, SERVICE);
  }

  close(): Promise<void> {
    return this.crypto.close();
  }
}
