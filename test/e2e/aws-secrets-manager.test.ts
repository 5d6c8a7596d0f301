import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AwsEmulatorHandle,
  DEFAULT_KEY_ALIAS,
  DEFAULT_REGION,
  emulatorEnv,
  ROOT_CREDENTIALS,
  startEmulator,
} from "../emulators/aws-common/endpoint.js";
import { admin, emulatorCalls, resetEmulator } from "../helpers/aws-emulator-admin.js";
import { freePort } from "../helpers/free-port.js";
import { TestServer } from "../helpers/server.js";

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
    await secretsManager().send(
      new CreateSecretCommand({ Name: "OPENAI_API_KEY", SecretString: "sk-from-secrets-manager" }),
    );
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
    const current = Object.entries(described.VersionIdsToStages!).find(([, stages]) =>
      stages.includes("AWSCURRENT"),
    )![0];
    expect(results[0]).toMatchObject({
      name: "OPENAI_API_KEY",
      found: true,
      value: "sk-from-secrets-manager",
      source: "aws_secret_manager",
      version: current,
    });
    expect(results[1]).toMatchObject({ name: "ANTHROPIC_API_KEY", found: true, value: "sk-from-env", source: "env" });
    expect((await emulatorCalls(emulator.endpoint)).counts.GetSecretValue).toBe(1);
  });

  it("writes with description, tags and KMS key visible in DescribeSecret, and replicates", async () => {
    const written = await server.grpc.write({
      name: "vk-described",
      value: "sk-virtual-1",
      virtualKey: true,
      tags: { owner: "alice" },
    });
    expect(written).toMatchObject({ name: "litellm/vk-described", source: "aws_secret_manager", warnings: [] });
    const described = await describeSecret("litellm/vk-described");
    expect(described.Description).toBe("litellm virtual key");
    expect(described.KmsKeyId).toBe(DEFAULT_KEY_ALIAS);
    expect(described.Tags).toEqual(
      expect.arrayContaining([
        { Key: "Environment", Value: "Prod" },
        { Key: "owner", Value: "alice" },
      ]),
    );
    expect(described.VersionIdsToStages![written.version]).toEqual(["AWSCURRENT"]);
    expect((await describeSecret("litellm/vk-described", "ap-south-1")).PrimaryRegion).toBe(DEFAULT_REGION);
  });

  it("reports a failed replication as a warning on a write that succeeded", async () => {
    await secretsManager("ap-south-1").send(
      new CreateSecretCommand({ Name: "litellm/vk-clash", SecretString: "occupied" }),
    );
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
    expect(await server.grpc.delete({ name: "vk-force", virtualKey: true, force: true })).toMatchObject({
      recoverable: false,
    });
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
    expect(described.Tags).toEqual(
      expect.arrayContaining([
        { Key: "team", Value: "eu" },
        { Key: "Environment", Value: "Prod" },
      ]),
    );
    await expect(describeSecret("eu/vk-1", DEFAULT_REGION)).rejects.toMatchObject({
      name: "ResourceNotFoundException",
    });

    const { calls } = await emulatorCalls(emulator.endpoint);
    const assumes = calls.filter((call) => call.operation === "AssumeRole");
    expect(assumes).toHaveLength(1);
    expect(assumes[0]).toMatchObject({ region: "eu-west-1", accessKeyId: ROOT_CREDENTIALS.accessKeyId });
    const creates = calls.filter((call) => call.operation === "CreateSecret");
    expect(creates).toHaveLength(2);
    for (const create of creates) {
      expect(create).toMatchObject({
        region: "eu-west-1",
        principal: "arn:aws:sts::123456789012:assumed-role/eu-writer/team-eu",
      });
      expect(create.accessKeyId).toMatch(/^ASIA/);
    }
  });

  it("routes a call that sends its team's settings to that region and role, like a stored team", async () => {
    const externalId = `ext-inline-${Date.now()}`;
    await admin(emulator.endpoint, "roles", { roleArn: EU_ROLE, externalId });
    const teamSettings = {
      aws_region_name: "eu-central-1",
      aws_role_name: EU_ROLE,
      aws_external_id: externalId,
      prefix: "inline/",
    };
    expect(
      await server.grpc.write({ name: "vk-inline", value: "sk-inline-1", virtualKey: true, teamSettings }),
    ).toMatchObject({ name: "inline/vk-inline" });
    expect((await describeSecret("inline/vk-inline", "eu-central-1")).Name).toBe("inline/vk-inline");
    await expect(describeSecret("inline/vk-inline", DEFAULT_REGION)).rejects.toMatchObject({
      name: "ResourceNotFoundException",
    });
    // (Reads of this server go to Secrets Manager for its hosted key only; Rotate reads the current value there first.)
    expect(
      await server.grpc.rotate({ currentName: "vk-inline", value: "sk-inline-2", virtualKey: true, teamSettings }),
    ).toMatchObject({ oldDeleted: false });
    expect(await server.grpc.delete({ name: "vk-inline", virtualKey: true, force: true, teamSettings })).toMatchObject({
      name: "inline/vk-inline",
    });
    await expect(describeSecret("inline/vk-inline", "eu-central-1")).rejects.toMatchObject({
      name: "ResourceNotFoundException",
    });
    const { calls } = await emulatorCalls(emulator.endpoint);
    // Everything secretgate sent (this test's own DescribeSecret checks aside) went to the team's region as its role.
    const secretCalls = calls.filter((call) => call.operation !== "AssumeRole" && call.operation !== "DescribeSecret");
    expect(secretCalls.length).toBeGreaterThan(0);
    for (const call of secretCalls)
      expect(call).toMatchObject({
        region: "eu-central-1",
        principal: expect.stringContaining("assumed-role/eu-writer/"),
      });
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
      new CreateSecretCommand({
        Name: "litellm_secrets",
        SecretString: JSON.stringify({ OPENAI_API_KEY: "sk-json", MAX_BUDGET: 5 }),
      }),
    );
    const server = await start(
      "aws_secret_manager",
      { primary_secret_name: "litellm_secrets" },
      { FALLBACK_ONLY: "from-env" },
      { environment: { serve: ["FALLBACK_*"] } },
    );
    const { results } = await server.grpc.read({
      names: ["OPENAI_API_KEY", "MAX_BUDGET", "FALLBACK_ONLY", "NOWHERE", "toString", "__proto__"],
    });
    expect(results[0]).toMatchObject({
      found: true,
      value: "sk-json",
      source: "aws_secret_manager",
      version: created.VersionId,
    });
    expect(results[1]).toMatchObject({ found: true, value: "5" });
    expect(results[2]).toMatchObject({ found: true, value: "from-env", source: "env" });
    expect(results[3]).toMatchObject({ found: false, error: { status: "NOT_FOUND", reason: "NOT_IN_BACKEND" } });
    // Members every JSON object inherits are not fields of the secret.
    expect(results.slice(4).map((result) => result.error?.status)).toEqual(["NOT_FOUND", "NOT_FOUND"]);
  });
});

describe("AWS unreachable", () => {
  it("answers UNAVAILABLE before the request deadline", async () => {
    const port = await freePort();
    const server = await start("aws_secret_manager", {}, { AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` });
    const { results } = await server.grpc.read({ names: ["OPENAI_API_KEY"] }, { timeoutMs: 8_000 });
    expect(results[0]!.error).toMatchObject({
      status: "UNAVAILABLE",
      message: expect.stringContaining("ECONNREFUSED"),
    });
  });
});
