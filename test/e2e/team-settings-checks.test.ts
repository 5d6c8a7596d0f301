import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:net";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AwsEmulatorHandle,
  emulatorEnv,
  startEmulator as startAwsEmulator,
} from "../emulators/aws-common/endpoint.js";
import {
  type AzureKeyVaultEmulator,
  sdkEnvironment,
  startEmulator as startAzureEmulator,
} from "../emulators/azure-key-vault/index.js";
import { type ConjurEmulator, startEmulator as startConjurEmulator } from "../emulators/cyberark/index.js";
import { admin, emulatorCalls, resetEmulator } from "../helpers/aws-emulator-admin.js";
import { callFailure } from "../helpers/call-failure.js";
import { TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";

// Issue 24, "Team settings reach the back ends unchecked": each hostile team setting, sent with a
// call (team_settings) and stored with SetTeamSettings, over the gRPC port and the HTTP port
// (Connect JSON, as curl sends it), is INVALID_ARGUMENT naming the key, and the back end (or a
// stand-in listening where the setting points) receives nothing.

const token = () => `tok_${randomBytes(24).toString("base64url")}`;
const hex = () => randomBytes(5).toString("hex");
const INLINE_RULES = { read: ["*"], write: ["*"], delete: ["*"], teams: ["*"], inline_team_settings: true };

type Method = "Read" | "Write" | "Delete";

/** A request of `method` for `name` that carries `teamSettings`. */
function requestFor(method: Method, name: string, teamSettings: Record<string, unknown>): Record<string, unknown> {
  if (method === "Read") return { names: [name], teamSettings };
  if (method === "Write") return { name, value: `sk-hostile-${hex()}`, teamSettings };
  return { name, teamSettings };
}

/**
 * Sends `teamSettings` with a call of `method` on both ports (gRPC with a client, Connect JSON over
 * plain HTTP), then stores them with SetTeamSettings on both ports; each must be INVALID_ARGUMENT
 * whose message names `key`.
 */
async function refusedOnBothPorts(
  server: TestServer,
  inlineToken: string,
  teamSettings: Record<string, unknown>,
  key: string,
): Promise<void> {
  const shown = JSON.stringify(teamSettings);
  for (const method of ["Read", "Write", "Delete"] as const) {
    const name = `HOSTILE_${hex()}`;
    const client = server.client(inlineToken);
    const call =
      method === "Read"
        ? client.read(requestFor(method, name, teamSettings))
        : method === "Write"
          ? client.write(requestFor(method, name, teamSettings) as never)
          : client.delete(requestFor(method, name, teamSettings) as never);
    const grpc = await callFailure(call);
    expect(grpc, `${method} on the gRPC port with ${shown}`).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringContaining(`team_settings.${key}`),
    });
    const http = await server.json(method, requestFor(method, name, teamSettings), {
      authorization: `Bearer ${inlineToken}`,
    });
    expect(http.status, `${method} on the HTTP port with ${shown}`).toBe(400);
    expect(http.body, `${method} on the HTTP port with ${shown}`).toMatchObject({
      code: "invalid_argument",
      message: expect.stringContaining(`team_settings.${key}`),
    });
  }
  const teamId = `hostile-${hex()}`;
  const stored = await callFailure(server.grpc.setTeamSettings({ teamId, settings: teamSettings as never }));
  expect(stored, `SetTeamSettings on the gRPC port with ${shown}`).toMatchObject({
    code: Code.InvalidArgument,
    message: expect.stringContaining(`settings.${key}`),
  });
  const storedOverHttp = await server.json("SetTeamSettings", { teamId, settings: teamSettings });
  expect(storedOverHttp.status, `SetTeamSettings on the HTTP port with ${shown}`).toBe(400);
  expect(storedOverHttp.body.message).toContain(`settings.${key}`);
  expect((await server.grpc.getTeamSettings({ teamId })).configured).toBe(false);
}

/** A TCP listener standing in for whatever a hostile setting points at; it counts the connections it gets. */
async function standIn(): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { server, port, connections: () => connections };
}

describe("Conjur account and policy_branch", () => {
  let conjur: ConjurEmulator;
  let server: TestServer;
  const inline = token();

  beforeAll(async () => {
    conjur = await startConjurEmulator({ host: "127.0.0.1", port: 0, tls: true });
    const login = conjur.logins[0]!;
    server = await TestServer.start({
      config: {
        general_settings: {
          key_management_system: "cyberark",
          key_management_settings: { access_mode: "read_and_write", policy_branch: "secretgate" },
        },
        secretgate: {
          auth: { tokens: [{ name: "proxy-inline", token: "os.environ/INLINE_TOKEN", rules: INLINE_RULES }] },
        },
      },
      env: {
        CYBERARK_API_BASE: conjur.endpoint,
        CYBERARK_ACCOUNT: login.account,
        CYBERARK_USERNAME: login.login,
        CYBERARK_API_KEY: login.apiKey,
        NODE_EXTRA_CA_CERTS: conjur.caFile!,
        INLINE_TOKEN: inline,
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await conjur?.close();
  });

  it("refuses '.', '..', empty segments and what URL normalisation would change, and Conjur receives nothing", async () => {
    conjur.received.length = 0;
    for (const account of [".", "..", "", "a/b", "a:b", "../other"])
      await refusedOnBothPorts(server, inline, { account }, "account");
    for (const branch of [
      ".",
      "..",
      "",
      "apps/..",
      "../root",
      "apps/./x",
      "apps//x",
      "/apps",
      "apps/",
      "a\\b",
      "a%2fb",
    ]) {
      await refusedOnBothPorts(server, inline, { policy_branch: branch }, "policy_branch");
    }
    expect(conjur.received).toEqual([]);
  });

  it("still serves a team on its own branch", async () => {
    const name = `conjur_ok_${hex()}`;
    await server.client(inline).write({ name, value: "sk-conjur-team-b", teamSettings: { policy_branch: "team-b" } });
    expect(conjur.store.value("default", conjur.logins[0]!, `team-b/${name}`).toString()).toBe("sk-conjur-team-b");
  });
});

describe("Azure vault_uri", () => {
  let vault: AzureKeyVaultEmulator;
  let otherVault: AzureKeyVaultEmulator;
  let listener: Awaited<ReturnType<typeof standIn>>;
  let server: TestServer;
  const inline = token();

  beforeAll(async () => {
    vault = await startAzureEmulator({ host: "127.0.0.1", port: 0 });
    otherVault = await startAzureEmulator({ host: "127.0.0.1", port: 0, sameTenantAs: vault });
    listener = await standIn();
    server = await TestServer.start({
      config: {
        general_settings: {
          key_management_system: "azure_key_vault",
          key_management_settings: {
            access_mode: "read_and_write",
            allowed_vault_hosts: [new URL(otherVault.endpoint).host],
          },
        },
        secretgate: {
          auth: { tokens: [{ name: "proxy-inline", token: "os.environ/INLINE_TOKEN", rules: INLINE_RULES }] },
        },
      },
      env: { ...sdkEnvironment(vault), INLINE_TOKEN: inline },
    });
  });
  afterAll(async () => {
    await server?.stop();
    listener?.server.close();
    await otherVault?.close();
    await vault?.close();
  });

  it("refuses a vault that is not a Key Vault host of a known cloud or an allowed host, and nothing is contacted", async () => {
    vault.faults.resetCalls();
    otherVault.faults.resetCalls();
    const hostile = [
      `https://127.0.0.1:${listener.port}`,
      `https://localhost:${listener.port}`,
      "https://evil.example.com",
      "https://vault.azure.net.evil.example.com",
      "https://team.vault.azure.net.evil.example.com",
      "https://team.vault.azure.net:8443",
      "https://user:pass@team.vault.azure.net",
      "https://team.vault.azure.net/secrets/x",
      "https://team.vault.azure.net?api-version=1",
      "https://a.b.vault.azure.net",
      "https://vault.azure.net",
      `https://127.0.0.1:${new URL(otherVault.endpoint).port}/other/path`,
    ];
    for (const uri of hostile) await refusedOnBothPorts(server, inline, { vault_uri: uri }, "vault_uri");
    expect(listener.connections()).toBe(0);
    expect(vault.faults.calls()).toEqual({});
    expect(otherVault.faults.calls()).toEqual({});
  });

  it("accepts the Key Vault hosts of Microsoft's clouds and the hosts the operator allows", async () => {
    for (const uri of [
      "https://team-eu.vault.azure.net",
      "https://team-cn.vault.azure.cn/",
      "https://team-gov.vault.usgovcloudapi.net",
      "https://pool.managedhsm.azure.net",
    ]) {
      const teamId = `known-${hex()}`;
      expect((await server.grpc.setTeamSettings({ teamId, settings: { vault_uri: uri } })).configured).toBe(true);
    }
    const name = `allowed-${hex()}`;
    await server
      .client(inline)
      .write({ name, value: "sk-allowed-vault", teamSettings: { vault_uri: otherVault.endpoint } });
    expect(otherVault.store.get(name).version.value).toBe("sk-allowed-vault");
  });
});

describe("AWS region and the stored external id", () => {
  const STORED_ROLE = "arn:aws:iam::123456789012:role/team-owned";
  const ATTACKER_ROLE = "arn:aws:iam::999999999999:role/attacker-owned";
  let aws: AwsEmulatorHandle;
  let server: TestServer;
  const inline = token();

  beforeAll(async () => {
    aws = await startAwsEmulator();
    server = await TestServer.start({
      config: {
        general_settings: {
          key_management_system: "aws_secret_manager",
          key_management_settings: { access_mode: "read_and_write" },
        },
        secretgate: {
          auth: { tokens: [{ name: "proxy-inline", token: "os.environ/INLINE_TOKEN", rules: INLINE_RULES }] },
        },
      },
      env: { ...emulatorEnv(aws.endpoint), INLINE_TOKEN: inline },
    });
  });
  beforeEach(() => resetEmulator(aws.endpoint));
  afterAll(async () => {
    await server?.stop();
    await aws?.close();
  });

  it("refuses an aws_region_name that is not a region, and AWS receives nothing", async () => {
    for (const region of [
      "evil.example.com",
      "x/y",
      "us-east-1/../x",
      "us-east-1.evil.example.com",
      "US-EAST-1",
      "us east 1",
      "",
      "localhost:4566",
    ]) {
      await refusedOnBothPorts(server, inline, { aws_region_name: region }, "aws_region_name");
    }
    expect((await emulatorCalls(aws.endpoint)).counts).toEqual({});
  });

  it("restores a stored external id only for the role it was stored for", async () => {
    const teamId = `team-ext-${hex()}`;
    const externalId = `ext-${hex()}-stored`;
    await admin(aws.endpoint, "roles", { roleArn: STORED_ROLE, externalId });
    await server.grpc.setTeamSettings({
      teamId,
      settings: { aws_role_name: STORED_ROLE, aws_external_id: externalId, prefix: "a/" },
    });

    // An editor changing only the prefix keeps the credential it was shown as "[redacted]".
    const kept = await server.grpc.setTeamSettings({
      teamId,
      settings: { aws_role_name: STORED_ROLE, aws_external_id: "[redacted]", prefix: "b/" },
    });
    expect(kept.settings).toMatchObject({ aws_external_id: "[redacted]", prefix: "b/" });
    await server.grpc.write({ name: `kept_${hex()}`, value: "sk-kept-external-id", teamId });
    expect((await emulatorCalls(aws.endpoint)).calls.filter((call) => call.operation === "AssumeRole")).toEqual([
      expect.objectContaining({ roleArn: STORED_ROLE, externalId }),
    ]);
    await resetEmulator(aws.endpoint);

    // "[redacted]" sent with another role stands for nothing: refused on both ports, by SetTeamSettings and TestTeamSettings.
    const moved = { aws_role_name: ATTACKER_ROLE, aws_external_id: "[redacted]" };
    const refusedSet = await callFailure(server.grpc.setTeamSettings({ teamId, settings: moved }));
    expect(refusedSet).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringContaining("settings.aws_external_id"),
    });
    const refusedSetOverHttp = await server.json("SetTeamSettings", { teamId, settings: moved });
    expect(refusedSetOverHttp).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining("settings.aws_external_id") },
    });
    const refusedTest = await callFailure(server.admin.testTeamSettings({ teamId, settings: moved }));
    expect(refusedTest).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringContaining("settings.aws_external_id"),
    });
    const refusedTestOverHttp = await server.json("TestTeamSettings", { teamId, settings: moved });
    expect(refusedTestOverHttp).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining("settings.aws_external_id") },
    });
    // Nor without a role: the id was given for the role it was stored with.
    const roleless = await callFailure(
      server.grpc.setTeamSettings({
        teamId,
        settings: { aws_region_name: "eu-west-1", aws_external_id: "[redacted]" },
      }),
    );
    expect(roleless).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringContaining("settings.aws_external_id"),
    });
    expect((await server.grpc.getTeamSettings({ teamId })).settings).toMatchObject({
      aws_role_name: STORED_ROLE,
      prefix: "b/",
    });
    expect((await emulatorCalls(aws.endpoint)).counts).toEqual({});
  });

  it("never sends a team's stored external id with the role a call's team_settings name instead", async () => {
    const teamId = `team-inline-${hex()}`;
    const externalId = `ext-${hex()}-inline`;
    await server.grpc.setTeamSettings({
      teamId,
      settings: { aws_role_name: STORED_ROLE, aws_external_id: externalId },
    });
    for (const port of ["grpc", "http"] as const) {
      const name = `moved_${port}_${hex()}`;
      const teamSettings = { aws_role_name: ATTACKER_ROLE };
      if (port === "grpc") await server.client(inline).write({ name, value: "sk-moved-role-1", teamId, teamSettings });
      else
        expect(
          (
            await server.json(
              "Write",
              { name, value: "sk-moved-role-2", teamId, teamSettings },
              { authorization: `Bearer ${inline}` },
            )
          ).status,
        ).toBe(200);
    }
    const assumes = (await emulatorCalls(aws.endpoint)).calls.filter((call) => call.operation === "AssumeRole");
    expect(assumes.length).toBeGreaterThan(0);
    for (const call of assumes) {
      expect(call.roleArn).toBe(ATTACKER_ROLE);
      expect(call.externalId).toBeUndefined();
    }
    // "[redacted]" is what GetTeamSettings shows, never a credential a call may send.
    await refusedOnBothPorts(
      server,
      inline,
      { aws_role_name: STORED_ROLE, aws_external_id: "[redacted]" },
      "aws_external_id",
    );
  });
});

describe("Vault data field", () => {
  let bed: VaultTestBed;
  let server: TestServer;
  const inline = token();

  beforeAll(async () => {
    bed = await startVaultTestBed();
    server = await TestServer.start({
      config: {
        general_settings: {
          key_management_system: "hashicorp_vault",
          key_management_settings: { access_mode: "read_and_write" },
        },
        secretgate: {
          auth: { tokens: [{ name: "proxy-inline", token: "os.environ/INLINE_TOKEN", rules: INLINE_RULES }] },
        },
      },
      env: { ...bed.env("approle"), INLINE_TOKEN: inline },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await bed?.close();
  });

  it("reads only the secret's own field: members every object has are no field, never a silent empty value", async () => {
    const name = `FIELDS_${hex()}`;
    await server.grpc.write({ name, value: "sk-vault-own-field" });
    for (const field of ["constructor", "toString", "hasOwnProperty", "__proto__", "valueOf", "isPrototypeOf"]) {
      const teamSettings = { data: field };
      const [overGrpc] = (await server.client(inline).read({ names: [name], teamSettings })).results;
      const overHttp = await server.json(
        "Read",
        { names: [name], teamSettings },
        { authorization: `Bearer ${inline}` },
      );
      // Connect JSON leaves out fields at their default (found: false, value: "").
      for (const [port, result] of [
        ["gRPC", overGrpc],
        ["HTTP", overHttp.body.results[0]],
      ] as const) {
        const {
          found = false,
          value = "",
          error,
        } = (result ?? {}) as { found?: boolean; value?: string; error?: unknown };
        expect({ found, value, error }, `data: ${field} on the ${port} port`).toMatchObject({
          found: false,
          value: "",
          error: {
            status: "FAILED_PRECONDITION",
            message: expect.stringContaining(`has no field ${JSON.stringify(field)}`),
          },
        });
      }
    }
    expect(
      (await server.client(inline).read({ names: [name], teamSettings: { data: "key" } })).results[0],
    ).toMatchObject({ found: true, value: "sk-vault-own-field" });
  });
});
