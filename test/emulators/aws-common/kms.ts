import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from "node:crypto";
import { AwsError } from "./aws-error.js";
import { ACCOUNT_ID } from "./identities.js";

/** The alias of the key every region starts with, for sandbox users and tests. */
export const DEFAULT_KEY_ALIAS = "alias/secretgate-test";

const BLOB_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

interface Key {
  id: string;
  arn: string;
  material: Buffer;
  enabled: boolean;
  description: string;
  created: number;
}

type Input = Record<string, any>;

/**
 * One region's KMS with symmetric keys. Ciphertext blobs carry the key id (as real KMS blobs do)
 * and are AES-256-GCM sealed with the encryption context as associated data, so a different
 * context fails to decrypt with InvalidCiphertextException.
 */
export class KmsRegion {
  private readonly keys = new Map<string, Key>();
  private readonly aliases = new Map<string, string>();

  constructor(readonly region: string) {
    const key = this.createKey("secretgate emulator default key");
    this.aliases.set(DEFAULT_KEY_ALIAS, key.id);
  }

  handle(operation: string, input: Input): unknown {
    switch (operation) {
      case "CreateKey": {
        const key = this.createKey(String(input.Description ?? ""));
        return { KeyMetadata: metadata(key) };
      }
      case "CreateAlias": {
        const alias = String(input.AliasName ?? "");
        if (!alias.startsWith("alias/") || alias.startsWith("alias/aws/"))
          throw new AwsError("ValidationException", `Invalid alias name ${alias}`);
        if (this.aliases.has(alias))
          throw new AwsError("AlreadyExistsException", `An alias with the name ${alias} already exists`);
        this.aliases.set(alias, this.key(input.TargetKeyId).id);
        return {};
      }
      case "DescribeKey":
        return { KeyMetadata: metadata(this.key(input.KeyId)) };
      case "DisableKey":
        this.key(input.KeyId).enabled = false;
        return {};
      case "EnableKey":
        this.key(input.KeyId).enabled = true;
        return {};
      case "Encrypt": {
        const plaintext = Buffer.from(String(input.Plaintext ?? ""), "base64");
        if (plaintext.length < 1 || plaintext.length > 4096) {
          throw new AwsError(
            "ValidationException",
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096",
          );
        }
        const key = this.usableKey(input.KeyId);
        return {
          CiphertextBlob: seal(key, plaintext, input.EncryptionContext).toString("base64"),
          KeyId: key.arn,
          EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
        };
      }
      case "GenerateDataKey": {
        const bytes =
          input.NumberOfBytes ?? (input.KeySpec === "AES_128" ? 16 : input.KeySpec === "AES_256" ? 32 : undefined);
        if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1024)
          throw new AwsError("ValidationException", "Specify KeySpec or NumberOfBytes (1 to 1024)");
        const key = this.usableKey(input.KeyId);
        const plaintext = randomBytes(bytes);
        return {
          CiphertextBlob: seal(key, plaintext, input.EncryptionContext).toString("base64"),
          Plaintext: plaintext.toString("base64"),
          KeyId: key.arn,
        };
      }
      case "Decrypt":
        return this.decrypt(input);
      default:
        throw new AwsError("UnknownOperationException", `Unknown operation ${operation}`, 400);
    }
  }

  private decrypt(input: Input) {
    const blob = Buffer.from(String(input.CiphertextBlob ?? ""), "base64");
    const keyIdLength = blob[1] ?? 0;
    if (blob.length < 2 + keyIdLength + IV_BYTES + TAG_BYTES || blob[0] !== BLOB_VERSION) {
      throw new AwsError("InvalidCiphertextException", "");
    }
    const keyId = blob.subarray(2, 2 + keyIdLength).toString("utf8");
    const key = this.keys.get(keyId);
    if (!key)
      throw new AwsError(
        "NotFoundException",
        `Key 'arn:aws:kms:${this.region}:${ACCOUNT_ID}:key/${keyId}' does not exist`,
      );
    if (input.KeyId !== undefined && this.key(input.KeyId).id !== key.id) {
      throw new AwsError(
        "IncorrectKeyException",
        "The key ID in the request does not identify a KMS key that can perform this operation.",
      );
    }
    if (!key.enabled) throw new AwsError("DisabledException", `${key.arn} is disabled.`);
    const ivStart = 2 + keyIdLength;
    const decipher = createDecipheriv("aes-256-gcm", key.material, blob.subarray(ivStart, ivStart + IV_BYTES));
    decipher.setAAD(contextBytes(input.EncryptionContext));
    decipher.setAuthTag(blob.subarray(ivStart + IV_BYTES, ivStart + IV_BYTES + TAG_BYTES));
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(blob.subarray(ivStart + IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      // Real KMS answers a context mismatch with this exception and no message.
      throw new AwsError("InvalidCiphertextException", "");
    }
    return { KeyId: key.arn, Plaintext: plaintext.toString("base64"), EncryptionAlgorithm: "SYMMETRIC_DEFAULT" };
  }

  private createKey(description: string): Key {
    const id = randomUUID();
    const key: Key = {
      id,
      arn: `arn:aws:kms:${this.region}:${ACCOUNT_ID}:key/${id}`,
      material: randomBytes(32),
      enabled: true,
      description,
      created: Date.now(),
    };
    this.keys.set(id, key);
    return key;
  }

  /** A key by id, key ARN, alias name or alias ARN. */
  private key(reference: unknown): Key {
    const text = String(reference ?? "");
    const aliasName = text.startsWith("alias/") ? text : /^arn:aws:kms:[^:]+:\d{12}:(alias\/.+)$/.exec(text)?.[1];
    const id = aliasName
      ? this.aliases.get(aliasName)
      : (/^arn:aws:kms:[^:]+:\d{12}:key\/(.+)$/.exec(text)?.[1] ?? text);
    const key = id !== undefined ? this.keys.get(id) : undefined;
    if (!key) throw new AwsError("NotFoundException", `Key '${text}' does not exist`);
    return key;
  }

  private usableKey(reference: unknown): Key {
    const key = this.key(reference);
    if (!key.enabled) throw new AwsError("DisabledException", `${key.arn} is disabled.`);
    return key;
  }
}

function seal(key: Key, plaintext: Buffer, context: unknown): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key.material, iv);
  cipher.setAAD(contextBytes(context));
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const id = Buffer.from(key.id, "utf8");
  return Buffer.concat([Buffer.from([BLOB_VERSION, id.length]), id, iv, cipher.getAuthTag(), sealed]);
}

/** The encryption context in a canonical form: key order must not matter, as in KMS. */
function contextBytes(context: unknown): Buffer {
  const entries = Object.entries((context ?? {}) as Record<string, string>).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  return Buffer.from(JSON.stringify(entries), "utf8");
}

function metadata(key: Key) {
  return {
    AWSAccountId: ACCOUNT_ID,
    KeyId: key.id,
    Arn: key.arn,
    Enabled: key.enabled,
    KeyState: key.enabled ? "Enabled" : "Disabled",
    KeyUsage: "ENCRYPT_DECRYPT",
    KeySpec: "SYMMETRIC_DEFAULT",
    CustomerMasterKeySpec: "SYMMETRIC_DEFAULT",
    EncryptionAlgorithms: ["SYMMETRIC_DEFAULT"],
    KeyManager: "CUSTOMER",
    Origin: "AWS_KMS",
    Description: key.description,
    CreationDate: key.created / 1000,
  };
}
