import { EncryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ServiceError } from "../../../src/core/errors.js";
import type { DriverCall } from "../../../src/drivers/driver.js";
import { resolveAwsConnection } from "../../../src/providers/aws-common/aws-settings.js";
import { AwsKmsDriver } from "../../../src/providers/aws-kms/driver.js";
import { encryptWithAwsKms } from "../../../src/providers/aws-kms/encryptor.js";
import { definition as awsKms } from "../../../src/providers/aws-kms/index.js";
import {
  type AwsEmulatorHandle,
  DEFAULT_KEY_ALIAS,
  DEFAULT_REGION,
  emulatorEnv,
  ROOT_CREDENTIALS,
  startEmulator,
} from "../../emulators/aws-common/endpoint.js";

// The conformance suite is write-centric (write, overwrite, delete, re-create); a KMS back end
// only decrypts values held in the environment, so these tests prove what it does instead.
let emulator: AwsEmulatorHandle;
let kms: KMSClient;
const call = (team: Record<string, unknown> = {}): DriverCall => ({ team, signal: AbortSignal.timeout(10_000) });

async function encrypt(
  plaintext: string,
  context?: Record<string, string>,
  keyId = DEFAULT_KEY_ALIAS,
): Promise<string> {
  const output = await kms.send(
    new EncryptCommand({
      KeyId: keyId,
      Plaintext: Buffer.from(plaintext),
      ...(context ? { EncryptionContext: context } : {}),
    }),
  );
  return Buffer.from(output.CiphertextBlob!).toString("base64");
}

function driverFor(
  env: Record<string, string>,
  options: { encryptionContext?: Record<string, string>; keyId?: string; hostedKeys?: string[] } = {},
): AwsKmsDriver {
  const fullEnv = { ...emulatorEnv(emulator.endpoint), ...env };
  return new AwsKmsDriver({ connection: resolveAwsConnection({}, fullEnv, "KMS"), env: fullEnv, ...options });
}

beforeAll(async () => {
  emulator = await startEmulator();
  kms = new KMSClient({ region: DEFAULT_REGION, endpoint: emulator.endpoint, credentials: ROOT_CREDENTIALS });
});
afterAll(async () => {
  kms.destroy();
  await emulator.close();
});

describe("aws_kms driver", () => {
  it("decrypts a name's base64 ciphertext from the environment, reporting a version", async () => {
    const driver = driverFor({ OPENAI_API_KEY: await encrypt("sk-openai-plain") });
    const value = await driver.read("OPENAI_API_KEY", call());
    expect(value?.text).toBe("sk-openai-plain");
    expect(value?.version).toMatch(/^[0-9a-f]{16}$/);
    await driver.close();
  });

  it("resolves LiteLLM's bulk forms: LITELLM_SECRET_AWS_KMS_<NAME> and aws_kms/ values, and lists them", async () => {
    const driver = driverFor({
      LITELLM_SECRET_AWS_KMS_ANTHROPIC_API_KEY: await encrypt("sk-anthropic"),
      COHERE_API_KEY: `aws_kms/${await encrypt("co-cohere")}`,
      litellm_secret_aws_kms_LOWER_NAME: await encrypt("lower-prefix"),
      UNRELATED: "plain",
    });
    const [anthropic, cohere, lower] = await Promise.all([
      driver.read("ANTHROPIC_API_KEY", call()),
      driver.read("COHERE_API_KEY", call()),
      driver.read("LOWER_NAME", call()),
    ]);
    expect([anthropic?.text, cohere?.text, lower?.text]).toEqual(["sk-anthropic", "co-cohere", "lower-prefix"]);
    expect(await driver.list()).toEqual(["ANTHROPIC_API_KEY", "COHERE_API_KEY", "LOWER_NAME"]);
    await driver.close();
  });

  it("decrypts with the configured encryption context, and refuses a mismatch with a clear, value-free error", async () => {
    const ciphertext = await encrypt("sk-with-context", { app: "litellm", env: "prod" });
    const matching = driverFor({ KEY: ciphertext }, { encryptionContext: { env: "prod", app: "litellm" } });
    expect((await matching.read("KEY", call()))?.text).toBe("sk-with-context");
    const wrong = driverFor({ KEY: ciphertext }, { encryptionContext: { app: "other" }, hostedKeys: ["KEY"] });
    const error = (await wrong.read("KEY", call()).catch((failure: unknown) => failure)) as ServiceError;
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.message).toContain("encryption context does not match");
    expect(error.message).toContain("KEY");
    expect(error.message).not.toContain("sk-with-context");
    await Promise.all([matching.close(), wrong.close()]);
  });

  it("insists on a team's key_id: ciphertext under another key is refused", async () => {
    const driver = driverFor({ KEY: await encrypt("under-default-key") }, { hostedKeys: ["os.environ/KEY"] });
    const error = (await driver
      .read("KEY", call({ key_id: "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000" }))
      .catch((failure: unknown) => failure)) as ServiceError;
    expect(error.code).toBe(Code.FailedPrecondition);
    expect((await driver.read("KEY", call({ key_id: DEFAULT_KEY_ALIAS })))?.text).toBe("under-default-key");
    await driver.close();
  });

  it("reports a name absent from the environment as missing, and a listed or marked non-ciphertext as FAILED_PRECONDITION before calling KMS", async () => {
    emulator.emulator.faults.resetCalls();
    const driver = driverFor(
      { NOT_CIPHERTEXT: "sk-plain text!", MARKED: "aws_kms/sk-plain marked!", LITELLM_SECRET_AWS_KMS_BULK: "QUJDRA==" },
      { hostedKeys: ["NOT_CIPHERTEXT"] },
    );
    expect(await driver.read("ABSENT_NAME", call())).toBeUndefined();
    for (const name of ["constructor", "__proto__", "toString"])
      expect(await driver.read(name, call())).toBeUndefined();
    for (const [name, variable] of [
      ["NOT_CIPHERTEXT", "NOT_CIPHERTEXT"],
      ["MARKED", "MARKED"],
      ["BULK", "LITELLM_SECRET_AWS_KMS_BULK"],
    ] as const) {
      const error = (await driver.read(name, call()).catch((failure: unknown) => failure)) as ServiceError;
      expect(error.code, name).toBe(Code.FailedPrecondition);
      expect(error.message).toContain(variable);
      expect(error.message).not.toContain("sk-plain");
    }
    expect(emulator.emulator.faults.calls().Decrypt).toBeUndefined();
    await driver.close();
  });

  it("answers a name hosted_keys does not list like a missing one unless its variable holds ciphertext that decrypts", async () => {
    emulator.emulator.faults.resetCalls();
    const warnings: unknown[] = [];
    const ciphertext = await encrypt("sk-unlisted-but-decrypts", { app: "litellm" });
    const fullEnv = {
      ...emulatorEnv(emulator.endpoint),
      PLAIN: "sk-plain text of the service",
      SHORT: "QUJDRA==",
      NOT_KMS: Buffer.alloc(96, 7).toString("base64"),
      OTHER_CONTEXT: await encrypt("sk-other-context", { app: "other" }),
      DECRYPTS: ciphertext,
    };
    const driver = new AwsKmsDriver({
      connection: resolveAwsConnection({}, fullEnv, "KMS"),
      env: fullEnv,
      encryptionContext: { app: "litellm" },
      hostedKeys: ["SOMETHING_ELSE"],
      logger: { warn: (...args: unknown[]) => warnings.push(args) },
    });
    for (const name of ["ABSENT", "PLAIN", "SHORT", "NOT_KMS", "OTHER_CONTEXT"])
      expect(await driver.read(name, call()), name).toBeUndefined();
    // Only what is shaped like KMS ciphertext was sent: the long base64 and the other context's ciphertext.
    expect(emulator.emulator.faults.calls().Decrypt).toBe(2);
    // The operator still learns why (the variable and KMS's reason, never a value).
    expect(JSON.stringify(warnings)).toContain("OTHER_CONTEXT");
    expect(JSON.stringify(warnings)).not.toContain("sk-other-context");
    expect((await driver.read("DECRYPTS", call()))?.text).toBe("sk-unlisted-but-decrypts");
    // An outage is still an outage: a caller must not take it for a missing value.
    emulator.emulator.faults.set([{ operation: "Decrypt", kind: "error", status: 500 }]);
    try {
      const outage = (await driver.read("DECRYPTS", call()).catch((failure: unknown) => failure)) as ServiceError;
      expect(outage).toBeInstanceOf(ServiceError);
      expect(outage.code).not.toBe(Code.NotFound);
    } finally {
      emulator.emulator.faults.clear();
    }
    await driver.close();
  });

  it("declares it cannot write, and refuses writes saying KMS only decrypts", async () => {
    const driver = driverFor({});
    expect(awsKms.capabilities.write).toBe(false);
    await expect(driver.write()).rejects.toMatchObject({
      code: Code.FailedPrecondition,
      message: expect.stringContaining("only decrypts"),
    });
    await driver.close();
  });

  it("round-trips through the `secretgate encrypt --kms aws` encryptor with a context", async () => {
    const env = emulatorEnv(emulator.endpoint);
    const ciphertext = await encryptWithAwsKms("sk-from-cli", { key: DEFAULT_KEY_ALIAS, context: { team: "a" }, env });
    const driver = driverFor({ CLI_KEY: ciphertext }, { encryptionContext: { team: "a" } });
    expect((await driver.read("CLI_KEY", call()))?.text).toBe("sk-from-cli");
    await expect(encryptWithAwsKms("x", { context: {}, env })).rejects.toThrow(/--key-id/);
    await driver.close();
  });
});
