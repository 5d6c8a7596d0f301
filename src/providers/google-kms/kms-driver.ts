import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { Code, ServiceError, failedPrecondition } from "../../core/errors.js";
import { stripEnvReference } from "../../core/names.js";
import { ciphertextBytes, isDecryptRefusal } from "../../drivers/environment-ciphertext.js";
import type { ClassifiedError, DriverCall, SecretDriver, SecretValue } from "../../drivers/driver.js";
import { classifyGoogleError } from "../google-common/errors.js";
import { decodePayload } from "../google-common/payload.js";
import type { KmsCrypto } from "./kms-client.js";
import { envValue, type Env } from "../../config/env.js";

export const SERVICE = "google_kms";

/** Cloud KMS encrypts at most 64 KiB of plaintext; its ciphertext adds a small envelope (nonce, tag, key version). */
const MAX_CIPHERTEXT_BYTES = 64 * 1024 + 1024;

export interface KmsDriverOptions {
  /** `hosted_keys`: names whose variable the operator says holds ciphertext. */
  hostedKeys?: readonly string[];
  /** Where a value KMS refused for an unlisted name is noted for the operator (never the value). */
  logger?: Pick<Logger, "warn">;
}

/**
 * `google_kms`: a name's environment value is base64 ciphertext and a read returns its
 * Cloud KMS decryption (SPEC §3.5). Nothing is stored, so write, delete and list do not exist.
 * It is no oracle on the service's environment (see drivers/environment-ciphertext.ts): for a
 * name hosted_keys does not list, a variable that holds no ciphertext this KMS decrypts answers
 * like a missing one.
 */
export class KmsDriver implements SecretDriver {
  readonly capabilities = { write: false, binary: false, list: false, sdkRetries: true };
  private readonly hostedKeys: ReadonlySet<string>;

  constructor(
    private readonly crypto: KmsCrypto,
    private readonly resourceName: string,
    private readonly env: Env,
    private readonly options: KmsDriverOptions = {},
  ) {
    this.hostedKeys = new Set((options.hostedKeys ?? []).map(stripEnvReference));
  }

  async read(name: string, call: DriverCall): Promise<SecretValue | undefined> {
    const value = envValue(this.env, name);
    if (value === undefined) return undefined;
    const listed = this.hostedKeys.has(name);
    const ciphertext = ciphertextBytes(value, MAX_CIPHERTEXT_BYTES);
    if (!ciphertext) {
      if (!listed) return undefined;
      throw failedPrecondition(
        `environment variable ${name} does not hold canonical base64 Cloud KMS ciphertext (standard alphabet, '=' padding, no whitespace)`,
      );
    }
    const key = (call.team.resource_name as string | undefined) ?? this.resourceName;
    let plaintext: Uint8Array;
    try {
      plaintext = await this.crypto.decrypt(key, ciphertext, call);
    } catch (error) {
      const { code } = this.classifyError(error);
      if (listed || !isDecryptRefusal(code)) throw error;
      // The variable and KMS's code only: the message may hold a team's key, and team settings are never logged.
      this.options.logger?.warn({ variable: name, code: Code[code] }, `${SERVICE} would not decrypt an unlisted variable; answered as not found (list it in hosted_keys for the error)`);
      return undefined;
    }
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
