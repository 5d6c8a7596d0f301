import { rmSync } from "node:fs";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb.js";
import {
  type AwsEmulatorHandle,
  DEFAULT_REGION,
  ROOT_CREDENTIALS,
  startEmulator,
} from "../emulators/aws-common/endpoint.js";
import { connectFailure } from "../helpers/call-failure.js";
import { TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";

// One server, three back ends: the embedded store (the default), the Vault emulator and the AWS
// emulator, each with its own settings and environment. Every placement rule, the fallback, the
// references, team back ends, DescribeBackends, ListHosted, dual_write and an outage, checked
// against what the emulators hold (AWS SDK, Vault's HTTP API).

const VAULT_TOKEN_VARIABLE = "VAULT_EU_TOKEN";

let vault: VaultTestBed;
let aws: AwsEmulatorHandle;
let awsClient: SecretsManagerClient;
let server: TestServer;

function config(): Record<string, unknown> {
  const vaultEnv = vault.env("token");
  return {
    secretgate: {
      backends: {
        local: {},
        "vault-eu": {
          key_management_system: "hashicorp_vault",
          key_management_settings: { access_mode: "read_and_write", prefix_for_stored_virtual_keys: "litellm/" },
          env: { HCP_VAULT_ADDR: vaultEnv.HCP_VAULT_ADDR, HCP_VAULT_TOKEN: `os.environ/${VAULT_TOKEN_VARIABLE}` },
        },
        "aws-us": {
          key_management_system: "aws_secret_manager",
          key_management_settings: { access_mode: "read_and_write" },
          env: {
            AWS_ENDPOINT_URL: aws.endpoint,
            AWS_REGION_NAME: DEFAULT_REGION,
            AWS_ACCESS_KEY_ID: ROOT_CREDENTIALS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: "os.environ/AWS_US_SECRET_ACCESS_KEY",
          },
          // Fail fast once the emulator is gone, so the outage test does not wait on retries.
          resilience: { breaker_failure_threshold: 1, breaker_open_seconds: 60 },
        },
      },
      default_backend: "local",
      routes: [
        { names: ["MOVING_*"], backend: "vault-eu", fallback: ["aws-us"], mode: "dual_write" },
        { names: ["OPENAI_*"], backend: "aws-us", fallback: ["vault-eu"] },
        { virtual_keys: true, backend: "vault-eu" },
        { teams: ["team-aws"], backend: "aws-us" },
      ],
    },
  };
}

async function vaultValue(path: string): Promise<string | undefined> {
  const response = await fetch(`${vault.emulator.endpoint}/v1/secret/data/${path}`, {
    headers: { "x-vault-token": vault.emulator.rootToken },
  });
  if (response.status === 404) return undefined;
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: { data: { key: string } } }).data.data.key;
}

async function awsValue(name: string): Promise<string | undefined> {
  try {
    return (await awsClient.send(new GetSecretValueCommand({ SecretId: name }))).SecretString;
  } catch (error) {
    if ((error as Error).name === "ResourceNotFoundException") return undefined;
    throw error;
  }
}

const readOne = async (
  name: string,
  init: { teamId?: string; virtualKey?: boolean; backend?: string; bypassCache?: boolean } = {},
) => (await server.grpc.read({ names: [name], ...init })).results[0]!;

beforeAll(async () => {
  [vault, aws] = await Promise.all([startVaultTestBed(), startEmulator()]);
  awsClient = new SecretsManagerClient({
    region: DEFAULT_REGION,
    endpoint: aws.endpoint,
    credentials: ROOT_CREDENTIALS,
  });
  server = await TestServer.start({
    config: config(),
    env: {
      [VAULT_TOKEN_VARIABLE]: vault.env("token").HCP_VAULT_TOKEN!,
      AWS_US_SECRET_ACCESS_KEY: ROOT_CREDENTIALS.secretAccessKey,
    },
  });
});

afterAll(async () => {
  if (server) {
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  awsClient?.destroy();
  await Promise.all([vault?.close(), aws?.close()]);
});

describe("one server, three back ends", () => {
  it("routes by name, by virtual key and by team; everything else goes to the default", async () => {
    await server.grpc.write({ name: "OPENAI_API_KEY", value: "sk-openai-in-aws" });
    expect(await awsValue("OPENAI_API_KEY")).toBe("sk-openai-in-aws");
    expect(await readOne("OPENAI_API_KEY")).toMatchObject({
      value: "sk-openai-in-aws",
      source: "aws-us",
      fallback: false,
    });

    const virtual = await server.grpc.write({ name: "vk-1", value: "sk-virtual-key-1", virtualKey: true });
    expect(virtual).toMatchObject({ name: "litellm/vk-1", source: "vault-eu" });
    expect(await vaultValue("litellm/vk-1")).toBe("sk-virtual-key-1");

    expect(await server.grpc.write({ name: "TEAM_KEY", value: "sk-team-aws", teamId: "team-aws" })).toMatchObject({
      source: "aws-us",
    });
    expect(await awsValue("TEAM_KEY")).toBe("sk-team-aws");

    expect(await server.grpc.write({ name: "PLAIN_KEY", value: "sk-plain-local" })).toMatchObject({ source: "local" });
    expect([await awsValue("PLAIN_KEY"), await vaultValue("PLAIN_KEY")]).toEqual([undefined, undefined]);
    expect(await readOne("PLAIN_KEY")).toMatchObject({ value: "sk-plain-local", source: "local" });
  });

  it("falls back to the route's next back end on a miss, naming the one that answered", async () => {
    await server.grpc.write({ name: "vault-eu://OPENAI_ORG_ID", value: "org-in-vault-only" });
    expect(await awsValue("OPENAI_ORG_ID")).toBeUndefined();
    expect(await readOne("os.environ/OPENAI_ORG_ID")).toMatchObject({
      value: "org-in-vault-only",
      source: "vault-eu",
      fallback: true,
    });
    expect(await readOne("OPENAI_NOWHERE")).toMatchObject({
      found: false,
      error: { reason: "NOT_IN_BACKEND", message: '"OPENAI_NOWHERE" was not found in aws-us, nor in vault-eu' },
    });
  });

  it("takes explicit references in both forms, with no fallback, over gRPC and Connect JSON", async () => {
    expect(await readOne("os.environ/aws-us://OPENAI_API_KEY")).toMatchObject({
      name: "aws-us://OPENAI_API_KEY",
      value: "sk-openai-in-aws",
      source: "aws-us",
    });
    expect(await readOne("OPENAI_ORG_ID", { backend: "aws-us" })).toMatchObject({
      found: false,
      error: { reason: "NOT_IN_BACKEND" },
    });
    const json = await server.json("Read", {
      names: ["os.environ/vault-eu://OPENAI_ORG_ID", "PLAIN_KEY"],
      backend: "vault-eu",
    });
    expect(json.status).toBe(200);
    expect(json.body.results[0]).toMatchObject({ value: "org-in-vault-only", source: "vault-eu" });
    expect(json.body.results[1]).toMatchObject({
      error: { status: "NOT_FOUND", message: '"PLAIN_KEY" was not found in vault-eu' },
    });

    const disagreeing = await server.json("Write", { name: "aws-us://X_KEY", value: "x-value-1", backend: "vault-eu" });
    expect(disagreeing.status).toBe(400);
    expect(disagreeing.body.message).toMatch(
      /^name "aws-us:\/\/X_KEY" refers to back end aws-us, but the request's backend field names vault-eu/,
    );
    expect((await connectFailure(server.grpc.write({ name: "gcp://X_KEY", value: "x-value-1" }))).code).toBe(
      Code.InvalidArgument,
    );
    expect(
      (await connectFailure(server.grpc.write({ name: "X_KEY", value: "x-value-1", backend: "gcp" }))).rawMessage,
    ).toBe('backend "gcp" is not a configured back end');
  });

  it("sends a team to the back end its settings name, validating the rest against that back end's keys", async () => {
    const refused = await connectFailure(
      server.grpc.setTeamSettings({
        teamId: "team-v",
        settings: { backend: "vault-eu", aws_region_name: "eu-west-1" },
      }),
    );
    expect(refused.code).toBe(Code.InvalidArgument);
    expect(refused.rawMessage).toBe('settings: unknown key "aws_region_name"');
    const wrongType = await connectFailure(
      server.grpc.setTeamSettings({ teamId: "team-v", settings: { backend: "aws-us", aws_session_name: "x" } }),
    );
    expect(wrongType.rawMessage).toMatch(/^settings\.aws_session_name: /);
    const unknown = await connectFailure(
      server.grpc.setTeamSettings({ teamId: "team-v", settings: { backend: "gcp" } }),
    );
    expect(unknown.rawMessage).toBe('settings.backend: "gcp" is not a configured back end');

    await server.grpc.setTeamSettings({ teamId: "team-v", settings: { backend: "vault-eu", path_prefix: "team-v" } });
    expect((await server.grpc.getTeamSettings({ teamId: "team-v" })).settings).toEqual({
      backend: "vault-eu",
      path_prefix: "team-v",
    });
    expect(await server.grpc.write({ name: "TEAM_V_KEY", value: "sk-team-v", teamId: "team-v" })).toMatchObject({
      source: "vault-eu",
    });
    expect(await vaultValue("team-v/TEAM_V_KEY")).toBe("sk-team-v");
    expect(await readOne("TEAM_V_KEY", { teamId: "team-v" })).toMatchObject({ value: "sk-team-v", source: "vault-eu" });
    // The call's own settings are validated the same way: against the team's back end.
    const inline = await connectFailure(
      server.grpc.read({ names: ["TEAM_V_KEY"], teamId: "team-v", teamSettings: { prefix: "x/" } }),
    );
    expect(inline.rawMessage).toBe('team_settings: unknown key "prefix"');
  });

  it("describes every back end to an admin: system, capabilities, access mode, health, team-settings schema — never credentials", async () => {
    const { backends } = await server.admin.describeBackends({});
    expect(
      backends.map((backend) => [
        backend.name,
        backend.system,
        backend.isDefault,
        backend.accessMode,
        backend.reachable,
        backend.breakerState,
      ]),
    ).toEqual([
      ["local", "local", true, "read_and_write", true, "closed"],
      ["vault-eu", "hashicorp_vault", false, "read_and_write", true, "closed"],
      ["aws-us", "aws_secret_manager", false, "read_and_write", true, "closed"],
    ]);
    expect(backends[1]!.capabilities).toMatchObject({ write: true, binary: false, list: true });
    const awsSchema = backends[2]!.teamSettingsSchema as { properties: Record<string, Record<string, unknown>> };
    expect(awsSchema.properties.aws_external_id).toMatchObject({ type: "string", writeOnly: true });
    expect(awsSchema.properties.backend).toMatchObject({ const: "aws-us" });
    const vaultSchema = backends[1]!.teamSettingsSchema as { properties: Record<string, unknown> };
    expect(Object.keys(vaultSchema.properties).sort()).toEqual([
      "backend",
      "data",
      "mount",
      "namespace",
      "path_prefix",
    ]);

    const json = await server.json("DescribeBackends", {});
    expect(json.status).toBe(200);
    const text = JSON.stringify(json.body);
    for (const secret of [
      vault.env("token").HCP_VAULT_TOKEN!,
      ROOT_CREDENTIALS.secretAccessKey,
      ROOT_CREDENTIALS.accessKeyId,
      aws.endpoint,
      vault.emulator.endpoint,
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  it("lists hosted names across back ends, a name in two of them once for each, or one back end's only", async () => {
    const { keys } = await server.grpc.listHosted({});
    const openai = keys
      .filter((key) => key.name === "OPENAI_ORG_ID" || key.name === "OPENAI_API_KEY")
      .map((key) => [key.name, key.backend, key.resolves]);
    expect(openai).toEqual([
      ["OPENAI_API_KEY", "aws-us", true],
      ["OPENAI_ORG_ID", "vault-eu", true],
    ]);
    expect(keys.find((key) => key.name === "PLAIN_KEY")).toMatchObject({
      backend: "local",
      source: "local",
      resolves: true,
    });
    await server.grpc.write({ name: "local://OPENAI_API_KEY", value: "sk-openai-local-copy" });
    const twice = (await server.grpc.listHosted({})).keys
      .filter((key) => key.name === "OPENAI_API_KEY")
      .map((key) => key.backend);
    expect(twice).toEqual(["local", "aws-us"]);
    const vaultOnly = await server.grpc.listHosted({ backend: "vault-eu" });
    expect(new Set(vaultOnly.keys.map((key) => key.backend))).toEqual(new Set(["vault-eu"]));
    expect(vaultOnly.keys.map((key) => key.name)).toEqual(expect.arrayContaining(["OPENAI_ORG_ID", "litellm/vk-1"]));
  });

  it("dual-writes while keys move: a write lands in both, reads prefer the new back end, deletes leave neither", async () => {
    const written = await server.grpc.write({ name: "MOVING_KEY", value: "sk-moving-1" });
    expect(written).toMatchObject({ source: "vault-eu", warnings: [] });
    expect([await vaultValue("MOVING_KEY"), await awsValue("MOVING_KEY")]).toEqual(["sk-moving-1", "sk-moving-1"]);
    // Another writer changes the old copy behind secretgate's back: reads still prefer the new back end.
    await awsClient.send(new PutSecretValueCommand({ SecretId: "MOVING_KEY", SecretString: "sk-old-manager-copy" }));
    expect(await readOne("MOVING_KEY", { bypassCache: true })).toMatchObject({
      value: "sk-moving-1",
      source: "vault-eu",
      fallback: false,
    });

    // A key written to the old manager before the move is still served, from the fallback.
    await awsClient.send(new CreateSecretCommand({ Name: "MOVING_OLD", SecretString: "sk-written-before" }));
    expect(await readOne("MOVING_OLD")).toMatchObject({ value: "sk-written-before", source: "aws-us", fallback: true });

    await server.grpc.delete({ name: "MOVING_KEY", force: true });
    expect([await vaultValue("MOVING_KEY"), await awsValue("MOVING_KEY")]).toEqual([undefined, undefined]);
  });

  it("serves from the fallback while a back end is down, and says so in /readyz and gRPC health", async () => {
    await server.grpc.write({ name: "vault-eu://OPENAI_API_KEY", value: "sk-openai-vault-copy" });
    expect(await readOne("OPENAI_API_KEY", { bypassCache: true })).toMatchObject({
      value: "sk-openai-in-aws",
      source: "aws-us",
    });
    await aws.close();
    expect(await readOne("OPENAI_API_KEY", { bypassCache: true })).toMatchObject({
      value: "sk-openai-vault-copy",
      source: "vault-eu",
      fallback: true,
    });
    // The breaker is open now: the next read does not wait for AWS at all.
    expect(await readOne("OPENAI_ORG_ID", { bypassCache: true })).toMatchObject({
      value: "org-in-vault-only",
      source: "vault-eu",
      fallback: true,
    });
    // A name only AWS could hold is reported unavailable, not missing.
    expect(await readOne("OPENAI_NOWHERE", { bypassCache: true })).toMatchObject({
      found: false,
      error: { status: "UNAVAILABLE" },
    });

    const ready = (await (await fetch(`http://${server.httpAddress}/readyz`)).json()) as Record<string, any>;
    expect(ready).toMatchObject({ status: "ready", backend: "local" });
    expect(ready.backends["aws-us"]).toMatchObject({ system: "aws_secret_manager", reachable: true, breaker: "open" });
    expect(ready.backends["vault-eu"]).toMatchObject({ breaker: "closed" });
    const health = createClient(Health, createGrpcTransport({ baseUrl: `http://${server.grpcAddress}` }));
    expect((await health.check({ service: "secretgate.backend.aws-us" })).status).toBe(
      HealthCheckResponse_ServingStatus.NOT_SERVING,
    );
    expect((await health.check({ service: "secretgate.backend.vault-eu" })).status).toBe(
      HealthCheckResponse_ServingStatus.SERVING,
    );
    const metrics = await (await fetch(`http://${server.httpAddress}/metrics`)).text();
    expect(metrics).toMatch(/secretgate_backend_breaker_state\{backend="aws-us",state="open"\} 1/);
    expect(metrics).toMatch(/secretgate_cache_hits_total\{backend="vault-eu"\}/);
  });
});

describe("a named back end's driver refusing its settings at start-up", () => {
  it.each([
    [
      "a variable of its env",
      {
        "vault-eu": {
          key_management_system: "hashicorp_vault",
          env: { HCP_VAULT_ADDR: "not a url", HCP_VAULT_TOKEN: "hvs.placeholder-token" },
        },
      },
      'secretgate.backends.vault-eu.env.HCP_VAULT_ADDR: HCP_VAULT_ADDR "not a url" is not a URL',
    ],
    [
      "one of its key_management_settings",
      { "aws-us": { key_management_system: "aws_secret_manager" } },
      "secretgate.backends.aws-us.key_management_settings.aws_region_name: not set",
    ],
  ])("names the config path of %s (exit 2)", async (_what, backends, message) => {
    const { code, stderr } = await TestServer.startExpectingFailure({ config: { secretgate: { backends } } });
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });
});
