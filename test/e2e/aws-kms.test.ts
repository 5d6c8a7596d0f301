import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { EncryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { Code, type ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AwsEmulatorHandle,
  DEFAULT_KEY_ALIAS,
  DEFAULT_REGION,
  emulatorEnv,
  ROOT_CREDENTIALS,
  startEmulator,
} from "../emulators/aws-common/endpoint.js";
import { emulatorCalls, resetEmulator } from "../helpers/aws-emulator-admin.js";
import { SERVER_ENTRY, TestServer } from "../helpers/server.js";

let emulator: AwsEmulatorHandle;
const servers: TestServer[] = [];
const sdkClients: Array<{ destroy(): void }> = [];

async function start(
  system: string,
  settings: Record<string, unknown>,
  env: Record<string, string> = {},
  secretgate: Record<string, unknown> = {},
): Promise<TestServer> {
  const server = await TestServer.start({
    config: { general_settings: { key_management_system: system, key_management_settings: settings }, secretgate },
    env: { ...emulatorEnv(emulator.endpoint), ...env },
  });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  emulator = await startEmulator();
});
beforeEach(() => resetEmulator(emulator.endpoint));
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  for (const client of sdkClients) client.destroy();
  await emulator.close();
});

describe("aws_kms through the server", () => {
  let kms: KMSClient;
  const encrypt = async (plaintext: string, context: Record<string, string>) => {
    const output = await kms.send(
      new EncryptCommand({ KeyId: DEFAULT_KEY_ALIAS, Plaintext: Buffer.from(plaintext), EncryptionContext: context }),
    );
    return Buffer.from(output.CiphertextBlob!).toString("base64");
  };
  beforeAll(() => {
    kms = new KMSClient({ region: DEFAULT_REGION, endpoint: emulator.endpoint, credentials: ROOT_CREDENTIALS });
    sdkClients.push(kms);
  });

  it("decrypts a name, LiteLLM's bulk variables and a value made by `secretgate encrypt`; refuses writes", async () => {
    const context = { app: "litellm" };
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        SERVER_ENTRY,
        "encrypt",
        "--kms",
        "aws",
        "--key-id",
        DEFAULT_KEY_ALIAS,
        "--context",
        "app=litellm",
        "sk-from-cli",
      ],
      { env: { PATH: process.env.PATH ?? "", ...emulatorEnv(emulator.endpoint) } },
    );
    const env = {
      OPENAI_API_KEY: await encrypt("sk-openai", context),
      LITELLM_SECRET_AWS_KMS_ANTHROPIC_API_KEY: await encrypt("sk-anthropic", context),
      COHERE_API_KEY: `aws_kms/${await encrypt("co-cohere", context)}`,
      CLI_KEY: stdout.trim(),
    };
    const server = await start("aws_kms", { access_mode: "read_and_write", encryption_context: context }, env);
    const { results } = await server.grpc.read({
      names: ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "COHERE_API_KEY", "CLI_KEY"],
    });
    expect(results.map((result) => [result.value, result.source])).toEqual([
      ["sk-openai", "aws_kms"],
      ["sk-anthropic", "aws_kms"],
      ["co-cohere", "aws_kms"],
      ["sk-from-cli", "aws_kms"],
    ]);
    const { keys } = await server.grpc.listHosted({});
    expect(keys.map((key) => [key.name, key.resolves])).toEqual([
      ["ANTHROPIC_API_KEY", true],
      ["COHERE_API_KEY", true],
    ]);
    const refused = await server.grpc
      .write({ name: "NEW_KEY", value: "x" })
      .catch((failure: unknown) => failure as ConnectError);
    expect(refused).toMatchObject({
      code: Code.FailedPrecondition,
      rawMessage: expect.stringContaining("only decrypts"),
    });
  });

  it("decrypts LiteLLM's bulk forms whatever hosted_keys says; a plain name not listed never reaches KMS", async () => {
    const env = {
      OPENAI_API_KEY: await encrypt("sk-listed", {}),
      LITELLM_SECRET_AWS_KMS_ANTHROPIC_API_KEY: await encrypt("sk-bulk-variable", {}),
      COHERE_API_KEY: `aws_kms/${await encrypt("co-bulk-value", {})}`,
      MISTRAL_API_KEY: await encrypt("mistral-not-listed", {}),
    };
    const server = await start("aws_kms", { hosted_keys: ["OPENAI_API_KEY"] }, env);
    const { results } = await server.grpc.read({
      names: ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "COHERE_API_KEY", "MISTRAL_API_KEY"],
    });
    expect(results.slice(0, 3).map((result) => [result.value, result.source])).toEqual([
      ["sk-listed", "aws_kms"],
      ["sk-bulk-variable", "aws_kms"],
      ["co-bulk-value", "aws_kms"],
    ]);
    expect(results[3]!.source).not.toBe("aws_kms");
    expect(results[3]!.value).not.toBe("mistral-not-listed");
    expect((await emulatorCalls(emulator.endpoint)).counts.Decrypt).toBe(3);
    // ListHosted shows what is served: the listed name and both bulk names.
    const { keys } = await server.grpc.listHosted({});
    expect(keys.map((key) => [key.name, key.resolves, key.source])).toEqual([
      ["ANTHROPIC_API_KEY", true, "aws_kms"],
      ["COHERE_API_KEY", true, "aws_kms"],
      ["OPENAI_API_KEY", true, "aws_kms"],
    ]);
  });

  it("never decrypts the service's own variables: they never reach KMS", async () => {
    const context = { app: "litellm" };
    const env = {
      OPENAI_API_KEY: await encrypt("sk-openai", context),
      // Protected variables: one that happens to hold ciphertext, one that does not.
      VAULT_TOKEN: await encrypt("vault-token-value", context),
      PGPASSWORD: "pg-password-not-ciphertext",
    };
    const server = await start("aws_kms", { encryption_context: context }, env);
    const { results } = await server.grpc.read({ names: ["OPENAI_API_KEY", "VAULT_TOKEN", "PGPASSWORD"] });
    expect(results[0]).toMatchObject({ found: true, value: "sk-openai", source: "aws_kms" });
    for (const result of results.slice(1)) {
      expect(result, result.name).toMatchObject({
        found: false,
        value: "",
        error: { status: "NOT_FOUND", reason: "NOT_IN_BACKEND" },
      });
    }
    expect((await emulatorCalls(emulator.endpoint)).counts.Decrypt).toBe(1);
  });

  it("applies a key_id sent with the Read as a team's: the ciphertext must be under that key", async () => {
    const ciphertext = await encrypt("sk-kms-inline", {});
    // Listed, so a refusal says why (an unlisted name answers like a missing one: kms-environment.test.ts).
    const server = await start("aws_kms", { hosted_keys: ["OPENAI_API_KEY"] }, { OPENAI_API_KEY: ciphertext });
    const [underIt] = (
      await server.grpc.read({ names: ["OPENAI_API_KEY"], teamSettings: { key_id: DEFAULT_KEY_ALIAS } })
    ).results;
    expect(underIt).toMatchObject({ found: true, value: "sk-kms-inline" });
    const [elsewhere] = (
      await server.grpc.read({ names: ["OPENAI_API_KEY"], teamSettings: { key_id: "alias/another-teams-key" } })
    ).results;
    expect(elsewhere).toMatchObject({
      found: false,
      error: { status: "FAILED_PRECONDITION", message: expect.stringContaining("alias/another-teams-key") },
    });
    const unknown = await server.grpc
      .read({ names: ["OPENAI_API_KEY"], teamSettings: { kms_key_id: "x" } })
      .catch((failure: unknown) => failure as ConnectError);
    expect(unknown).toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringContaining('team_settings: unknown key "kms_key_id"'),
    });
  });

  it("names the mismatch when the encryption context is wrong", async () => {
    const server = await start(
      "aws_kms",
      { encryption_context: { app: "someone-else" }, hosted_keys: ["OPENAI_API_KEY"] },
      { OPENAI_API_KEY: await encrypt("sk-secret-value", { app: "litellm" }) },
    );
    const { results } = await server.grpc.read({ names: ["OPENAI_API_KEY"] });
    expect(results[0]!.found).toBe(false);
    expect(results[0]!.error).toMatchObject({
      status: "FAILED_PRECONDITION",
      message: expect.stringContaining("encryption context does not match"),
    });
    expect(results[0]!.error!.message).not.toContain("sk-secret-value");
  });
});
