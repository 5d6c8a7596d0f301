/**
 * What a KMS back end offers `secretgate encrypt`: the ciphertext to put in the environment for it
 * to decrypt. A back end's folder exports one; the CLI picks it by `--kms`.
 */
export interface EncryptOptions {
  /** --key-id (AWS) or --key (Google); the back end's env variable when omitted. */
  key?: string;
  /** --context k=v pairs (AWS encryption context). */
  context: Record<string, string>;
  env: Readonly<Record<string, string | undefined>>;
}

/** The base64 ciphertext of `plaintext`, as the back end's Read decrypts it. */
export type Encryptor = (plaintext: string, options: EncryptOptions) => Promise<string>;
