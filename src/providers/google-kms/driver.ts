import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { type Env, envValue } from "../../config/env.js";
import { Code, failedPrecondition } from "../../core/errors.js";
import { stripEnvReference } from "../../core/names.js";
import type { ClassifiedError, DriverCall, DriverContext, SecretDriver, SecretValue } from "../../drivers/driver.js";
import { ciphertextBytes, isDecryptRefusal } from "../../drivers/environment-ciphertext.js";
import { decodePayload } from "../google-common/payload.js";
import { classifyGoogleKmsError } from "./errors.js";
import { KmsCrypto } from "./kms-client.js";
import { resolveKmsSettings, SYSTEM } from "./settings.js";

/** Cloud KMS encrypts at most 64 KiB of plaintext; its ciphertext adds a small envelope (nonce, tag, key version). */
const MAX_CIPHERTEXT_BYTES = 64 * 1024 + 1024;

export interface GoogleKmsDriverOptions {
  /** `hosted_keys`: names whose variable the operator says holds ciphertext. */
  hostedKeys?: readonly string[];
  /** Where a value KMS refused for an unlisted name is noted for the operator (never the value). */
  logger?: Pick<Logger, "warn">;
}

/**
 * `google_kms`: a name's environment value is base64 ciphertext and a read returns its
 * Cloud KMS decryption (docs/backends/google-kms.md, "Behaviour"). Nothing is stored, so write, delete and list do
 * not exist.
 * It is no oracle on the service's environment (see drivers/environment-ciphertext.ts): for a
 * name hosted_keys does not list, a variable that holds no ciphertext this KMS decrypts answers
 * like a missing one.
 */
export class GoogleKmsDriver implements SecretDriver {
  private readonly hostedKeys: ReadonlySet<string>;

  constructor(
    private readonly crypto: KmsCrypto,
    private readonly resourceName: string,
    private readonly env: Env,
    private readonly options: GoogleKmsDriverOptions = {},
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
        `environment variable ${name} does not hold canonical base64 Cloud KMS ` +
          `ciphertext (standard alphabet, '=' padding, no whitespace)`,
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
      this.options.logger?.warn(
        { variable: name, code: Code[code] },
        `${SYSTEM} would not decrypt an unlisted variable; answered as not found ` +
          `(list it in hosted_keys for the error)`,
      );
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
    return classifyGoogleKmsError(error);
  }

  close(): Promise<void> {
    return this.crypto.close();
  }
}

/**
 * Cloud KMS through @google-cloud/kms (google-gax, gRPC), decrypting what the service's environment holds
 * (DriverContext.ciphertextEnv).
 */
export async function createDriver({ settings, env, ciphertextEnv, logger }: DriverContext): Promise<SecretDriver> {
  const resolved = resolveKmsSettings(settings, env);
  return new GoogleKmsDriver(new KmsCrypto(resolved.connection), resolved.resourceName, ciphertextEnv, {
    logger,
    ...(settings.hosted_keys ? { hostedKeys: settings.hosted_keys } : {}),
  });
}
