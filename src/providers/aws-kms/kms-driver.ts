import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { DecryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { z } from "zod";
import { Code, ServiceError, failedPrecondition } from "../../core/errors.js";
import type { ClassifiedError, DriverCall, DriverDefinition, SecretDriver, SecretValue } from "../../drivers/driver.js";
import { AwsClientPool } from "../aws-common/aws-client-pool.js";
import { classifyAwsError } from "../aws-common/aws-errors.js";
import { AWS_CREDENTIAL_ENV_NAMES, awsConnectionSettings, resolveAwsConnection, type AwsConnection } from "../aws-common/aws-settings.js";
import { bulkNames, findCiphertext } from "./kms-environment.js";
import type { Env } from "../../config/env.js";
import { stripEnvReference } from "../../core/names.js";
import { ciphertextBytes, isDecryptRefusal } from "../../drivers/environment-ciphertext.js";

export const SYSTEM = "aws_kms";

/** `key_management_settings` keys this back end adds. */
export const kmsSettings = {
  ...awsConnectionSettings,
  /** The encryption context the values were encrypted with; Decrypt fails unless it matches. */
  encryption_context: z.record(z.string(), z.string()).optional(),
  /** When set, Decrypt insists the ciphertext was made with this key. */
  kms_key_id: z.string().min(1).optional(),
};

/** Team keys (SPEC §5): the key a team's values must be encrypted with. */
export const kmsTeamSettings = z.strictObject({ key_id: z.string().min(1).optional() });

/** Decrypt's CiphertextBlob holds 1 to 6,144 bytes (the KMS API reference). */
const MAX_CIPHERTEXT_BYTES = 6144;

export interface KmsDriverOptions {
  connection: AwsConnection;
  /** Where ciphertext is looked up: the service's environment without its own variables (DriverContext.ciphertextEnv). */
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
 * decryption (SPEC §3.5), including LiteLLM v2's bulk forms. It never writes (capabilities.write).
 * It is no oracle on the service's environment (see drivers/environment-ciphertext.ts): for a
 * name neither hosted_keys nor a bulk form declares, a variable that holds no ciphertext this
 * KMS decrypts answers like a missing one.
 */
export class KmsDriver implements SecretDriver {
  readonly capabilities = { write: false, binary: false, list: true, sdkRetries: true };
  private readonly pool: AwsClientPool<KMSClient>;
  private readonly hostedKeys: ReadonlySet<string>;

  constructor(private readonly options: KmsDriverOptions) {
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
      throw failedPrecondition(`${SYSTEM}: environment variable ${ciphertext.variable} does not hold base64 KMS ciphertext`);
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
      const { code, message } = classifyAwsError(error, { system: SYSTEM, operation: "Decrypt", name: ciphertext.variable });
      if (!declared && isDecryptRefusal(code)) {
        // The variable and KMS's code only: the message may hold a team's key_id, and team settings are never logged.
        this.options.logger?.warn({ variable: ciphertext.variable, code: Code[code] }, `${SYSTEM} would not decrypt an unlisted variable; answered as not found (list it in hosted_keys for the error)`);
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
    return classifyAwsError(error, { system: SYSTEM });
  }

  async close(): Promise<void> {
    this.pool.close();
  }
}

export const kmsDriver: DriverDefinition = {
  name: SYSTEM,
  teamSettings: kmsTeamSettings,
  settings: kmsSettings,
  credentialEnvNames: AWS_CREDENTIAL_ENV_NAMES,
  hostedWhateverHostedKeys: bulkNames,
  create: async ({ settings, env, ciphertextEnv, logger }) =>
    new KmsDriver({
      connection: resolveAwsConnection(settings, env, "KMS"),
      env: ciphertextEnv,
      logger,
      ...(settings.hosted_keys ? { hostedKeys: settings.hosted_keys } : {}),
      ...(settings.encryption_context ? { encryptionContext: settings.encryption_context as Record<string, string> } : {}),
      ...(typeof settings.kms_key_id === "string" ? { keyId: settings.kms_key_id } : {}),
    }),
};
