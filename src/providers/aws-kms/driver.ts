import { createHash } from "node:crypto";
import { DecryptCommand, KMSClient } from "@aws-sdk/client-kms";
import type { Logger } from "pino";
import type { Env } from "../../config/env.js";
import { Code, failedPrecondition, ServiceError } from "../../core/errors.js";
import { stripEnvReference } from "../../core/names.js";
import type { ClassifiedError, DriverCall, DriverContext, SecretDriver, SecretValue } from "../../drivers/driver.js";
import { ciphertextBytes, isDecryptRefusal } from "../../drivers/environment-ciphertext.js";
import { AwsClientPool } from "../aws-common/aws-client-pool.js";
import { type AwsConnection, resolveAwsConnection } from "../aws-common/aws-settings.js";
import { classifyKmsError } from "./errors.js";
import { bulkNames, findCiphertext } from "./kms-environment.js";
import { SYSTEM } from "./settings.js";

/** Decrypt's CiphertextBlob holds 1 to 6,144 bytes (the KMS API reference). */
const MAX_CIPHERTEXT_BYTES = 6144;

export interface AwsKmsDriverOptions {
  connection: AwsConnection;
  /**
   * Where ciphertext is looked up: the service's environment without its own variables
   * (DriverContext.ciphertextEnv).
   */
  env: Env;
  encryptionContext?: Record<string, string>;
  keyId?: string;
  /** `hosted_keys`: names whose own variable the operator says holds ciphertext. */
  hostedKeys?: readonly string[];
  /** Where a value KMS refused for an unlisted name is noted for the operator (never the value). */
  logger?: Pick<Logger, "warn">;
}

/**
 * AWS KMS as a back end: a name's environment value is base64 ciphertext and Read returns its
 * decryption (docs/backends/aws-kms.md, "Which names it decrypts"), including LiteLLM v2's bulk forms. It never
 * writes (capabilities.write).
 * It is no oracle on the service's environment (see drivers/environment-ciphertext.ts): for a
 * name neither hosted_keys nor a bulk form declares, a variable that holds no ciphertext this
 * KMS decrypts answers like a missing one.
 */
export class AwsKmsDriver implements SecretDriver {
  private readonly pool: AwsClientPool<KMSClient>;
  private readonly hostedKeys: ReadonlySet<string>;

  constructor(private readonly options: AwsKmsDriverOptions) {
    this.pool = new AwsClientPool(options.connection, (config) => new KMSClient(config));
    this.hostedKeys = new Set((options.hostedKeys ?? []).map(stripEnvReference));
  }

  async read(name: string, call: DriverCall): Promise<SecretValue | undefined> {
    const ciphertext = findCiphertext(name, this.options.env);
    if (!ciphertext) return undefined;
    const declared = ciphertext.marked || this.hostedKeys.has(name);
    const blob = ciphertextBytes(ciphertext.base64, MAX_CIPHERTEXT_BYTES);
    if (!blob) {
      if (!declared) return undefined;
      throw failedPrecondition(
        `${SYSTEM}: environment variable ${ciphertext.variable} does not hold base64 KMS ciphertext`,
      );
    }
    const keyId = (call.team.key_id as string | undefined) ?? this.options.keyId;
    try {
      const client = await this.pool.client({}, call.signal);
      const output = await client.send(
        new DecryptCommand({
          CiphertextBlob: blob,
          ...(this.options.encryptionContext ? { EncryptionContext: this.options.encryptionContext } : {}),
          ...(keyId ? { KeyId: keyId } : {}),
        }),
        { abortSignal: call.signal },
      );
      // The ciphertext identifies the value: a new encryption is a new version.
      const version = createHash("sha256").update(blob).digest("hex").slice(0, 16);
      return { text: Buffer.from(output.Plaintext ?? new Uint8Array()).toString("utf8"), version };
    } catch (error) {
      if (error instanceof ServiceError) throw error;
      const { code, message } = classifyKmsError(error, "Decrypt", ciphertext.variable);
      if (!declared && isDecryptRefusal(code)) {
        // The variable and KMS's code only: the message may hold a team's key_id, and team settings are never logged.
        this.options.logger?.warn(
          { variable: ciphertext.variable, code: Code[code] },
          `${SYSTEM} would not decrypt an unlisted variable; answered as not found ` +
            `(list it in hosted_keys for the error)`,
        );
        return undefined;
      }
      throw new ServiceError(code, message);
    }
  }

  async write(): Promise<never> {
    throw failedPrecondition(`${SYSTEM} only decrypts values held in the environment; it cannot write`);
  }

  async delete(): Promise<never> {
    throw failedPrecondition(`${SYSTEM} only decrypts values held in the environment; it cannot delete`);
  }

  /** The names held in LiteLLM's bulk forms, so ListHosted shows (and resolves) them. */
  async list(): Promise<string[]> {
    return bulkNames(this.options.env);
  }

  classifyError(error: unknown): ClassifiedError {
    return classifyKmsError(error);
  }

  async close(): Promise<void> {
    this.pool.close();
  }
}

/**
 * AWS KMS, decrypting what the service's environment holds (DriverContext.ciphertextEnv), never the service's own
 * variables.
 */
export async function createDriver({ settings, env, ciphertextEnv, logger }: DriverContext): Promise<SecretDriver> {
  return new AwsKmsDriver({
    connection: resolveAwsConnection(settings, env, "KMS"),
    env: ciphertextEnv,
    logger,
    ...(settings.hosted_keys ? { hostedKeys: settings.hosted_keys } : {}),
    ...(settings.encryption_context
      ? { encryptionContext: settings.encryption_context as Record<string, string> }
      : {}),
    ...(typeof settings.kms_key_id === "string" ? { keyId: settings.kms_key_id } : {}),
  });
}
