import { EncryptCommand, KMSClient } from "@aws-sdk/client-kms";
import type { Encryptor } from "../../drivers/encryptor.js";
import { AwsCredentials } from "../aws-common/aws-credentials.js";
import { resolveAwsConnection } from "../aws-common/aws-settings.js";
import { AWS_MAX_ATTEMPTS, awsRequestHandler } from "../aws-common/sdk-options.js";

/**
 * `secretgate encrypt --kms aws --key-id KEY [--context k=v] VALUE`: the base64 ciphertext to put
 * in the environment for aws_kms, made with the same credentials and endpoints the server uses.
 */
export const encryptWithAwsKms: Encryptor = async (plaintext, { key, context, env }) => {
  const keyId = key ?? env.AWS_KMS_KEY_ID;
  if (!keyId) throw new Error("pass --key-id (a key id, key ARN or alias/NAME) or set AWS_KMS_KEY_ID");
  const connection = resolveAwsConnection({}, env, "KMS");
  const credentials = new AwsCredentials(connection);
  const client = new KMSClient({
    region: connection.region,
    ...(connection.endpoint ? { endpoint: connection.endpoint } : {}),
    credentials: () => credentials.base.get(),
    maxAttempts: AWS_MAX_ATTEMPTS,
    requestHandler: awsRequestHandler,
  });
  try {
    const output = await client.send(
      new EncryptCommand({
        KeyId: keyId,
        Plaintext: Buffer.from(plaintext, "utf8"),
        ...(Object.keys(context).length > 0 ? { EncryptionContext: context } : {}),
      }),
    );
    return Buffer.from(output.CiphertextBlob ?? new Uint8Array()).toString("base64");
  } finally {
    client.destroy();
    credentials.close();
  }
};
