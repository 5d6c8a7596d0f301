import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyCommand,
  KMSClient,
} from "@aws-sdk/client-kms";
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UpdateSecretCommand,
} from "@aws-sdk/client-secrets-manager";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AwsEmulatorHandle,
  DEFAULT_KEY_ALIAS,
  DEFAULT_REGION,
  ROOT_CREDENTIALS,
  startEmulator,
} from "../../emulators/aws-common/endpoint.js";

let emulator: AwsEmulatorHandle;
let client: SecretsManagerClient;
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as Error & { $metadata: { httpStatusCode?: number } },
  );

beforeAll(async () => {
  emulator = await startEmulator();
  client = new SecretsManagerClient({
    region: DEFAULT_REGION,
    endpoint: emulator.endpoint,
    credentials: ROOT_CREDENTIALS,
    maxAttempts: 1,
  });
});
afterAll(async () => {
  client.destroy();
  await emulator.close();
});

describe("AWS emulator protocol", () => {
  it("refuses an unsigned JSON 1.1 call with AWS's error shape and status", async () => {
    const response = await fetch(emulator.endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "secretsmanager.GetSecretValue" },
      body: JSON.stringify({ SecretId: "x" }),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      __type: "MissingAuthenticationTokenException",
      message: "Missing Authentication Token",
    });
  });

  it("keeps AWSCURRENT and AWSPREVIOUS stages across versions", async () => {
    await client.send(new CreateSecretCommand({ Name: "stages", SecretString: "one" }));
    const second = await client.send(new PutSecretValueCommand({ SecretId: "stages", SecretString: "two" }));
    await client.send(new PutSecretValueCommand({ SecretId: "stages", SecretString: "three" }));
    const previous = await client.send(new GetSecretValueCommand({ SecretId: "stages", VersionStage: "AWSPREVIOUS" }));
    expect(previous).toMatchObject({
      SecretString: "two",
      VersionId: second.VersionId,
      VersionStages: ["AWSPREVIOUS"],
    });
    expect((await client.send(new GetSecretValueCommand({ SecretId: "stages" }))).SecretString).toBe("three");
  });

  it("answers ResourceExistsException, and InvalidRequestException for a secret scheduled for deletion", async () => {
    await client.send(new CreateSecretCommand({ Name: "lifecycle", SecretString: "v" }));
    const exists = await rejection(client.send(new CreateSecretCommand({ Name: "lifecycle", SecretString: "v" })));
    expect(exists).toMatchObject({ name: "ResourceExistsException", $metadata: { httpStatusCode: 400 } });
    await client.send(new DeleteSecretCommand({ SecretId: "lifecycle", RecoveryWindowInDays: 7 }));
    const scheduled = await rejection(client.send(new GetSecretValueCommand({ SecretId: "lifecycle" })));
    expect(scheduled).toMatchObject({
      name: "InvalidRequestException",
      message: expect.stringContaining("marked for deletion"),
    });
    const missing = await rejection(client.send(new GetSecretValueCommand({ SecretId: "never-created" })));
    expect(missing).toMatchObject({ name: "ResourceNotFoundException" });
    const window = await rejection(
      client.send(new DeleteSecretCommand({ SecretId: "stages", RecoveryWindowInDays: 3 })),
    );
    expect(window).toMatchObject({ name: "InvalidParameterException" });
  });

  it("updates metadata and tags, and versions a value given to UpdateSecret", async () => {
    await client.send(
      new CreateSecretCommand({ Name: "metadata", SecretString: "v1", Tags: [{ Key: "a", Value: "1" }] }),
    );
    const updated = await client.send(
      new UpdateSecretCommand({ SecretId: "metadata", Description: "described", SecretString: "v2" }),
    );
    await client.send(new TagResourceCommand({ SecretId: "metadata", Tags: [{ Key: "b", Value: "2" }] }));
    const described = await client.send(new DescribeSecretCommand({ SecretId: "metadata" }));
    expect(described).toMatchObject({
      Description: "described",
      Tags: [
        { Key: "a", Value: "1" },
        { Key: "b", Value: "2" },
      ],
    });
    expect(described.VersionIdsToStages![updated.VersionId!]).toEqual(["AWSCURRENT"]);
  });

  it("makes KMS ciphertext that carries its key id, with data keys and per-region keys", async () => {
    const kms = new KMSClient({ region: DEFAULT_REGION, endpoint: emulator.endpoint, credentials: ROOT_CREDENTIALS });
    const alias = await kms.send(new DescribeKeyCommand({ KeyId: DEFAULT_KEY_ALIAS }));
    const dataKey = await kms.send(
      new GenerateDataKeyCommand({
        KeyId: DEFAULT_KEY_ALIAS,
        KeySpec: "AES_256",
        EncryptionContext: { purpose: "test" },
      }),
    );
    expect(dataKey.Plaintext).toHaveLength(32);
    const decrypted = await kms.send(
      new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: { purpose: "test" } }),
    );
    expect(decrypted.KeyId).toBe(alias.KeyMetadata!.Arn);
    expect(Buffer.from(decrypted.Plaintext!).equals(Buffer.from(dataKey.Plaintext!))).toBe(true);
    const other = await kms.send(new CreateKeyCommand({ Description: "other" }));
    await expect(
      kms.send(
        new DecryptCommand({
          CiphertextBlob: dataKey.CiphertextBlob,
          EncryptionContext: { purpose: "test" },
          KeyId: other.KeyMetadata!.KeyId,
        }),
      ),
    ).rejects.toMatchObject({ name: "IncorrectKeyException" });
    const elsewhere = new KMSClient({
      region: "eu-west-1",
      endpoint: emulator.endpoint,
      credentials: ROOT_CREDENTIALS,
    });
    await expect(elsewhere.send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob }))).rejects.toMatchObject({
      name: "NotFoundException",
    });
    kms.destroy();
    elsewhere.destroy();
  });

  it("speaks STS's query protocol and names the caller", async () => {
    const sts = new STSClient({ region: DEFAULT_REGION, endpoint: emulator.endpoint, credentials: ROOT_CREDENTIALS });
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    expect(identity).toMatchObject({
      Account: "123456789012",
      Arn: "arn:aws:iam::123456789012:user/secretgate-emulator",
    });
    const unknown = new STSClient({
      region: DEFAULT_REGION,
      endpoint: emulator.endpoint,
      credentials: { accessKeyId: "AKIAUNKNOWN", secretAccessKey: "x" },
    });
    await expect(unknown.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: "InvalidClientTokenId",
    });
    sts.destroy();
    unknown.destroy();
  });
});
