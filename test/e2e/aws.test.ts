import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { EncryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { ConnectError, Code } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { freePort } from "../helpers/free-port.js";
import { DEFAULT_KEY_ALIAS, DEFAULT_REGION, ROOT_CREDENTIALS, emulatorEnv, startEmulator, type AwsEmulatorHandle } from "../emulators/aws/index.js";
import { admin, emulatorCalls, resetEmulator } from "../helpers/aws-emulator-admin.js";
import { SERVER_ENTRY, TestServer } from "../helpers/server.js";

const EU_ROLE = "arn:aws:iam::123456789012:role/eu-writer";

let emulator: AwsEmulatorHandle;
const servers: TestServer[] = [];
const sdkClients: Array<{ destroy(): void }> = [];

function secretsManager(region = DEFAULT_REGION): SecretsManagerClient {
  const client = new SecretsManagerClient({ region, endpoint: emulator.endpoint, credentials: ROOT_CREDENTIALS });
  sdkClients.push(client);
  return client;
}

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

async function describeSecret(name: string, region = DEFAULT_REGION) {
  return secretsManager(region).send(new DescribeSecretCommand({ SecretId: name }));
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

describe("aws_secret_manager through the server", () => {
  let server: TestServer;
  beforeAll(async () => {
    await secretsManager().send(new CreateSecretCommand({ Name: "OPENAI_API_KEY", SecretString: "sk-from-secrets-manager" }));
    server = await start(
      "aws_secret_manager",
      {
        access_mode: "read_and_write",
        store_virtual_keys: true,
        hosted_keys: ["OPENAI_API_KEY"],
        description: "litellm virtual key",
        tags: { Environment: "Prod" },
        kms_key_id: DEFAULT_KEY_ALIAS,
        replica_regions: ["ap-south-1"],
      },
      { ANTHROPIC_API_KEY: "sk-from-env" },
      { environment: { serve: ["ANTHROPIC_API_KEY"] } },
    );
  });

  it("reads hosted keys from Secrets Manager and the rest from the environment that environment.serve lists", async () => {
    const { results } = await server.grpc.read({ names: ["os.environ/OPENAI_API_KEY", "ANTHROPIC_API_KEY"] });
    const described = await describeSecret("OPENAI_API_KEY");
    const current = Object.entries(described.VersionIdsToStages!).find(([, stages]) => stages.includes("AWSCURRENT"))![0];
    expect(results[0]).toMatchObject({ name: "OPENAI_API_KEY", found: true, value: "sk-from-secrets-manager", source: "aws_secret_manager", version: current });
    expect(results[1]).toMatchObject({ name: "ANTHROPIC_API_KEY", found: true, value: "sk-from-env", source: "env" });
    expect((await emulatorCalls(emulator.endpoint)).counts.GetSecretValue).toBe(1);
  });

  it("writes with description, tags and KMS key visible in DescribeSecret, and replicates", async () => {
    const written = await server.grpc.write({ name: "vk-described", value: "sk-virtual-1", virtualKey: true, tags: { owner: "alice" } });
    expect(written).toMatchObject({ name: "litellm/vk-described", source: "aws_secret_manager", warnings: [] });
    const described = await describeSecret("litellm/vk-described");
    expect(described.Description).toBe("litellm virtual key");
    expect(described.KmsKeyId).toBe(DEFAULT_KEY_ALIAS);
    expect(described.Tags).toEqual(expect.arrayContaining([{ Key: "Environment", Value: "Prod" }, { Key: "owner", Value: "alice" }]));
    expect(described.VersionIdsToStages![written.version]).toEqual(["AWSCURRENT"]);
    expect((await describeSecret("litellm/vk-described", "ap-south-1")).PrimaryRegion).toBe(DEFAULT_REGION);
  });

  it("reports a failed replication as a warning on a write that succeeded", async () => {
    await secretsManager("ap-south-1").send(new CreateSecretCommand({ Name: "litellm/vk-clash", SecretString: "occupied" }));
    const written = await server.grpc.write({ name: "vk-clash", value: "sk-virtual-2", virtualKey: true });
    expect(written.warnings).toHaveLength(1);
    expect(written.warnings[0]).toContain("ap-south-1");
    expect((await describeSecret("litellm/vk-clash")).Name).toBe("litellm/vk-clash");
  });

  it("restores a name deleted with the default window when it is written again", async () => {
    await server.grpc.write({ name: "vk-restore", value: "first", virtualKey: true });
    const arn = (await describeSecret("litellm/vk-restore")).ARN;
    expect(await server.grpc.delete({ name: "vk-restore", virtualKey: true })).toMatchObject({ recoverable: true });
    const deleted = await describeSecret("litellm/vk-restore");
    expect(deleted.DeletedDate).toBeDefined();
    const { results } = await server.grpc.read({ names: ["litellm/vk-restore"], virtualKey: false });
    expect(results[0]!.found).toBe(false);
    await server.grpc.write({ name: "vk-restore", value: "second", virtualKey: true });
    const restored = await describeSecret("litellm/vk-restore");
    expect(restored.ARN).toBe(arn);
    expect(restored.DeletedDate).toBeUndefined();
    const operations = (await emulatorCalls(emulator.endpoint)).calls.map((call) => call.operation);
    expect(operations).toEqual(expect.arrayContaining(["DeleteSecret", "RestoreSecret", "PutSecretValue"]));
  });

  it("re-creates a force-deleted name fresh", async () => {
    await server.grpc.write({ name: "vk-force", value: "first", virtualKey: true });
    const arn = (await describeSecret("litellm/vk-force")).ARN;
    expect(await server.grpc.delete({ name: "vk-force", virtualKey: true, force: true })).toMatchObject({ recoverable: false });
    await expect(describeSecret("litellm/vk-force")).rejects.toMatchObject({ name: "ResourceNotFoundException" });
    await server.grpc.write({ name: "vk-force", value: "second", virtualKey: true });
    expect((await describeSecret("litellm/vk-force")).ARN).not.toBe(arn);
    expect((await emulatorCalls(emulator.endpoint)).counts.RestoreSecret).toBeUndefined();
  });

  it("routes a team's write to its region, role and KMS key, assuming the role once", async () => {
    await admin(emulator.endpoint, "roles", { roleArn: EU_ROLE, externalId: "ext-eu" });
    const settings = await server.grpc.setTeamSettings({
      teamId: "team-eu",
      settings: {
        aws_region_name: "eu-west-1",
        aws_role_name: EU_ROLE,
        aws_session_name: "team-eu",
        aws_external_id: "ext-eu",
        kms_key_id: "alias/eu-key",
        prefix: "eu/",
        tags: { team: "eu" },
      },
    });
    expect(settings.settings).toMatchObject({ aws_external_id: "[redacted]", aws_region_name: "eu-west-1" });
    await server.grpc.write({ name: "vk-1", value: "sk-eu-1", virtualKey: true, teamId: "team-eu" });
    await server.grpc.write({ name: "vk-2", value: "sk-eu-2", virtualKey: true, teamId: "team-eu" });

    const described = await describeSecret("eu/vk-1", "eu-west-1");
    expect(described.KmsKeyId).toBe("alias/eu-key");
    expect(described.Tags).toEqual(expect.arrayContaining([{ Key: "team", Value: "eu" }, { Key: "Environment", Value: "Prod" }]));
    await expect(describeSecret("eu/vk-1", DEFAULT_REGION)).rejects.toMatchObject({ name: "ResourceNotFoundException" });

    const { calls } = await emulatorCalls(emulator.endpoint);
    const assumes = calls.filter((call) => call.operation === "AssumeRole");
    expect(assumes).toHaveLength(1);
    expect(assumes[0]).toMatchObject({ region: "eu-west-1", accessKeyId: ROOT_CREDENTIALS.accessKeyId });
    const creates = calls.filter((call) => call.operation === "CreateSecret");
    expect(creates).toHaveLength(2);
    for (const create of creates) {
      expect(create).toMatchObject({ region: "eu-west-1", principal: "arn:aws:sts::123456789012:assumed-role/eu-writer/team-eu" });
      expect(create.accessKeyId).toMatch(/^ASIA/);
    }
  });

  it("routes a call that sends its team's settings to that region and role, like a stored team", async () => {
    const externalId = `ext-inline-${Date.now()}`;
    await admin(emulator.endpoint, "roles", { roleArn: EU_ROLE, externalId });
    const teamSettings = { aws_region_name: "eu-central-1", aws_role_name: EU_ROLE, aws_external_id: externalId, prefix: "inline/" };
    expect(await server.grpc.write({ name: "vk-inline", value: "sk-inline-1", virtualKey: true, teamSettings })).toMatchObject({ name: "inline/vk-inline" });
    expect((await describeSecret("inline/vk-inline", "eu-central-1")).Name).toBe("inline/vk-inline");
    await expect(describeSecret("inline/vk-inline", DEFAULT_REGION)).rejects.toMatchObject({ name: "ResourceNotFoundException" });
    // (Reads of this server go to Secrets Manager for its hosted key only; Rotate reads the current value there first.)
    expect(await server.grpc.rotate({ currentName: "vk-inline", value: "sk-inline-2", virtualKey: true, teamSettings })).toMatchObject({ oldDeleted: false });
    expect(await server.grpc.delete({ name: "vk-inline", virtualKey: true, force: true, teamSettings })).toMatchObject({ name: "inline/vk-inline" });
    await expect(describeSecret("inline/vk-inline", "eu-central-1")).rejects.toMatchObject({ name: "ResourceNotFoundException" });
    const { calls } = await emulatorCalls(emulator.endpoint);
    // Everything secretgate sent (this test's own DescribeSecret checks aside) went to the team's region as its role.
    const secretCalls = calls.filter((call) => call.operation !== "AssumeRole" && call.operation !== "DescribeSecret");
    expect(secretCalls.length).toBeGreaterThan(0);
    for (const call of secretCalls) expect(call).toMatchObject({ region: "eu-central-1", principal: expect.stringContaining("assumed-role/eu-writer/") });
    // The external id is a credential of sorts: sent to STS, never to a log line (the server's stop() scans for it too).
    expect(server.allOutput()).not.toContain(externalId);
  });

  it("refuses names AWS cannot hold with INVALID_ARGUMENT", async () => {
    const error = await server.grpc.write({ name: "has space", value: "x" }).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((await emulatorCalls(emulator.endpoint)).calls).toEqual([]);
  });

  it("ends a throttling storm in RESOURCE_EXHAUSTED within a bounded number of calls", async () => {
    await admin(emulator.endpoint, "faults", { rules: [{ kind: "throttle", operation: "GetSecretValue" }] });
    const { results } = await server.grpc.read({ names: ["OPENAI_API_KEY"], bypassCache: true });
    expect(results[0]!.error).toMatchObject({ status: "RESOURCE_EXHAUSTED" });
    expect((await emulatorCalls(emulator.endpoint)).counts.GetSecretValue).toBeLessThanOrEqual(3);
  });
});

describe("primary_secret_name through the server", () => {
  it("reads fields of one JSON secret", async () => {
    const created = await secretsManager().send(
      new CreateSecretCommand({ Name: "litellm_secrets", SecretString: JSON.stringify({ OPENAI_API_KEY: "sk-json", MAX_BUDGET: 5 }) }),
    );
    const server = await start("aws_secret_manager", { primary_secret_name: "litellm_secrets" }, { FALLBACK_ONLY: "from-env" }, { environment: { serve: ["FALLBACK_*"] } });
    const { results } = await server.grpc.read({ names: ["OPENAI_API_KEY", "MAX_BUDGET", "FALLBACK_ONLY", "NOWHERE", "toString", "__proto__"] });
    expect(results[0]).toMatchObject({ found: true, value: "sk-json", source: "aws_secret_manager", version: created.VersionId });
    expect(results[1]).toMatchObject({ found: true, value: "5" });
    expect(results[2]).toMatchObject({ found: true, value: "from-env", source: "env" });
    expect(results[3]).toMatchObject({ found: false, error: { status: "NOT_FOUND", reason: "NOT_IN_BACKEND" } });
    // Members every JSON object inherits are not fields of the secret.
    expect(results.slice(4).map((result) => result.error?.status)).toEqual(["NOT_FOUND", "NOT_FOUND"]);
  });
});

describe("aws_kms through the server", () => {
  let kms: KMSClient;
  const encrypt = async (plaintext: string, context: Record<string, string>) => {
    const output = await kms.send(new EncryptCommand({ KeyId: DEFAULT_KEY_ALIAS, Plaintext: Buffer.from(plaintext), EncryptionContext: context }));
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
      [SERVER_ENTRY, "encrypt", "--kms", "aws", "--key-id", DEFAULT_KEY_ALIAS, "--context", "app=litellm", "sk-from-cli"],
      { env: { PATH: process.env.PATH ?? "", ...emulatorEnv(emulator.endpoint) } },
    );
    const env = {
      OPENAI_API_KEY: await encrypt("sk-openai", context),
      LITELLM_SECRET_AWS_KMS_ANTHROPIC_API_KEY: await encrypt("sk-anthropic", context),
      COHERE_API_KEY: `aws_kms/${await encrypt("co-cohere", context)}`,
      CLI_KEY: stdout.trim(),
    };
    const server = await start("aws_kms", { access_mode: "read_and_write", encryption_context: context }, env);
    const { results } = await server.grpc.read({ names: ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "COHERE_API_KEY", "CLI_KEY"] });
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
    const refused = await server.grpc.write({ name: "NEW_KEY", value: "x" }).catch((failure: unknown) => failure as ConnectError);
    expect(refused).toMatchObject({ code: Code.FailedPrecondition, rawMessage: expect.stringContaining("only decrypts") });
  });

  it("decrypts LiteLLM's bulk forms whatever hosted_keys says; a plain name not listed never reaches KMS", async () => {
    const env = {
      OPENAI_API_KEY: await encrypt("sk-listed", {}),
      LITELLM_SECRET_AWS_KMS_ANTHROPIC_API_KEY: await encrypt("sk-bulk-variable", {}),
      COHERE_API_KEY: `aws_kms/${await encrypt("co-bulk-value", {})}`,
      MISTRAL_API_KEY: await encrypt("mistral-not-listed", {}),
    };
    const server = await start("aws_kms", { hosted_keys: ["OPENAI_API_KEY"] }, env);
    const { results } = await server.grpc.read({ names: ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "COHERE_API_KEY", "MISTRAL_API_KEY"] });
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
      expect(result, result.name).toMatchObject({ found: false, value: "", error: { status: "NOT_FOUND", reason: "NOT_IN_BACKEND" } });
    }
    expect((await emulatorCalls(emulator.endpoint)).counts.Decrypt).toBe(1);
  });

  it("applies a key_id sent with the Read as a team's: the ciphertext must be under that key", async () => {
    const ciphertext = await encrypt("sk-kms-inline", {});
    // Listed, so a refusal says why (an unlisted name answers like a missing one: kms-environment.test.ts).
    const server = await start("aws_kms", { hosted_keys: ["OPENAI_API_KEY"] }, { OPENAI_API_KEY: ciphertext });
    const [underIt] = (await server.grpc.read({ names: ["OPENAI_API_KEY"], teamSettings: { key_id: DEFAULT_KEY_ALIAS } })).results;
    expect(underIt).toMatchObject({ found: true, value: "sk-kms-inline" });
    const [elsewhere] = (await server.grpc.read({ names: ["OPENAI_API_KEY"], teamSettings: { key_id: "alias/another-teams-key" } })).results;
    expect(elsewhere).toMatchObject({ found: false, error: { status: "FAILED_PRECONDITION", message: expect.stringContaining("alias/another-teams-key") } });
    const unknown = await server.grpc.read({ names: ["OPENAI_API_KEY"], teamSettings: { kms_key_id: "x" } }).catch((failure: unknown) => failure as ConnectError);
    expect(unknown).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringContaining('team_settings: unknown key "kms_key_id"') });
  });

  it("names the mismatch when the encryption context is wrong", async () => {
    const server = await start(
      "aws_kms",
      { encryption_context: { app: "someone-else" }, hosted_keys: ["OPENAI_API_KEY"] },
      { OPENAI_API_KEY: await encrypt("sk-secret-value", { app: "litellm" }) },
    );
    const { results } = await server.grpc.read({ names: ["OPENAI_API_KEY"] });
    expect(results[0]!.found).toBe(false);
    expect(results[0]!.error).toMatchObject({ status: "FAILED_PRECONDITION", message: expect.stringContaining("encryption context does not match") });
    expect(results[0]!.error!.message).not.toContain("sk-secret-value");
  });
});

describe("AWS unreachable", () => {
  it("answers UNAVAILABLE before the request deadline", async () => {
    const port = await freePort();
    const server = await start("aws_secret_manager", {}, { AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` });
    const { results } = await server.grpc.read({ names: ["OPENAI_API_KEY"] }, { timeoutMs: 8_000 });
    expect(results[0]!.error).toMatchObject({ status: "UNAVAILABLE", message: expect.stringContaining("ECONNREFUSED") });
  });
});
