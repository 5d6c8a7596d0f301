import { Code, ConnectError } from "@connectrpc/connect";
import { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientOptions } from "../../src/providers/google-common/client-options.js";
import { parseEndpoint } from "../../src/providers/google-common/connection.js";
import { type SecretManagerEmulator, startEmulator } from "../emulators/google-secret-manager/index.js";
import { TestServer } from "../helpers/server.js";

const PROJECT = "e2e-project";
const OTHER_PROJECT = "team-b-project";

// gRPC configured through LiteLLM's environment variables; REST through key_management_settings keys.

for (const transport of ["grpc", "rest"] as const)
  describe(`google_secret_manager through the server (${transport})`, () => {
    let emulator: SecretManagerEmulator;
    let server: TestServer;
    // The real SDK, as an operator's script would use it, to look at what the server stored.
    let inspector: SecretManagerServiceClient;

    beforeAll(async () => {
      emulator = await startEmulator({ host: "127.0.0.1", port: 0 });
      inspector = new SecretManagerServiceClient(
        clientOptions({ transport: "grpc", endpoint: parseEndpoint(emulator.endpoint, "endpoint") }),
      );
      const connection: { env: Record<string, string>; settings: Record<string, string> } =
        transport === "grpc"
          ? {
              env: { GOOGLE_SECRET_MANAGER_PROJECT_ID: PROJECT, GOOGLE_SECRET_MANAGER_ENDPOINT: emulator.endpoint },
              settings: {},
            }
          : { env: {}, settings: { project_id: PROJECT, endpoint: emulator.restEndpoint, transport: "rest" } };
      server = await TestServer.start({
        config: {
          general_settings: {
            key_management_system: "google_secret_manager",
            key_management_settings: {
              access_mode: "read_and_write",
              store_virtual_keys: true,
              tags: { environment: "e2e" },
              ...connection.settings,
            },
          },
        },
        // The SDK's debug logging prints request and response bodies; secretgate must keep it off.
        env: {
          ...connection.env,
          GOOGLE_SECRET_MANAGER_ALWAYS_READ_SECRET_MANAGER: "true",
          GOOGLE_SDK_NODE_LOGGING: "*",
        },
      });
    });
    afterAll(async () => {
      await server?.stop();
      await inspector?.close();
      await emulator?.close();
    });

    const readOne = async (name: string) => (await server.grpc.read({ names: [name] })).results[0]!;

    it("reads the latest value after two writes", async () => {
      const first = await server.grpc.write({ name: "E2E_TWO_WRITES", value: "first" });
      const second = await server.grpc.write({ name: "E2E_TWO_WRITES", value: "second" });
      expect([first.version, second.version]).toEqual(["1", "2"]);
      expect(await readOne("E2E_TWO_WRITES")).toMatchObject({
        found: true,
        value: "second",
        version: "2",
        source: "google_secret_manager",
      });
    });

    it("creates secrets with labels and automatic replication, visible through GetSecret", async () => {
      await server.grpc.write({
        name: "E2E_LABELLED",
        value: "x",
        tags: { owner: "platform" },
        description: "proxy key",
      });
      const [secret] = await inspector.getSecret({ name: `projects/${PROJECT}/secrets/E2E_LABELLED` });
      expect(secret.labels).toEqual({ environment: "e2e", owner: "platform" });
      expect(secret.replication?.automatic).toBeDefined();
      expect(secret.annotations).toEqual({ description: "proxy key" });
    });

    it("refuses tags that cannot be Secret Manager labels when creating a secret, naming them", async () => {
      const error = await server.grpc
        .write({ name: "E2E_BAD_LABEL", value: "x", tags: { Owner: "Platform" } })
        .catch((failure: unknown) => ConnectError.from(failure));
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
      expect((error as ConnectError).rawMessage).toContain('tag "Owner" cannot be a Secret Manager label');
      expect(await readOne("E2E_BAD_LABEL")).toMatchObject({ found: false });
    });

    it("reports a disabled latest version as not found, saying why", async () => {
      await server.grpc.write({ name: "E2E_DISABLED", value: "old" });
      await server.grpc.write({ name: "E2E_DISABLED", value: "new" });
      await inspector.disableSecretVersion({ name: `projects/${PROJECT}/secrets/E2E_DISABLED/versions/2` });
      const result = await readOne("E2E_DISABLED");
      expect(result.found).toBe(false);
      expect(result.value).toBe("");
      expect(result.error).toMatchObject({ status: "NOT_FOUND" });
      expect(result.error?.message).toMatch(/latest version \(2\) is disabled/);
    });

    it("turns a CRC32C mismatch into an error, never a corrupt value", async () => {
      await server.grpc.write({ name: "E2E_CORRUPTED", value: "intact value" });
      await fetch(`${emulator.adminUrl}/corrupt`, { method: "POST", body: JSON.stringify({ times: 1 }) });
      const result = await readOne("E2E_CORRUPTED");
      expect(result).toMatchObject({ found: false, value: "", error: { status: "DATA_LOSS" } });
      expect(result.error?.message).not.toContain("intact");
      expect(await readOne("E2E_CORRUPTED")).toMatchObject({ found: true, value: "intact value" });
    });

    it("routes a team's writes to its own project, prefix, labels and replicas", async () => {
      await server.grpc.setTeamSettings({
        teamId: "team-b",
        settings: {
          project_id: OTHER_PROJECT,
          prefix: "team-b-",
          labels: { team: "b" },
          replication: ["us-east1", "europe-west1"],
        },
      });
      const written = await server.grpc.write({ name: "vk-1", value: "sk-team-b", teamId: "team-b", virtualKey: true });
      expect(written.name).toBe("team-b-vk-1");
      const [secret] = await inspector.getSecret({ name: `projects/${OTHER_PROJECT}/secrets/team-b-vk-1` });
      expect(secret.labels).toEqual({ environment: "e2e", team: "b" });
      expect(secret.replication?.userManaged?.replicas?.map((replica) => replica.location)).toEqual([
        "us-east1",
        "europe-west1",
      ]);
      const inDefault = await inspector
        .getSecret({ name: `projects/${PROJECT}/secrets/team-b-vk-1` })
        .catch((error: { code: number }) => error.code);
      expect(inDefault).toBe(5);
      const read = await server.grpc.read({ names: ["vk-1"], teamId: "team-b", virtualKey: true });
      expect(read.results[0]).toMatchObject({ found: true, value: "sk-team-b", resolvedName: "team-b-vk-1" });
    });

    it("routes a call that sends project_id in its team_settings to that project, like a stored team", async () => {
      const teamSettings = { project_id: OTHER_PROJECT, prefix: "inline-" };
      expect(
        await server.grpc.write({ name: "vk-2", value: "sk-inline-b", virtualKey: true, teamSettings }),
      ).toMatchObject({ name: "inline-vk-2" });
      const [secret] = await inspector.getSecret({ name: `projects/${OTHER_PROJECT}/secrets/inline-vk-2` });
      expect(secret.name).toBe(`projects/${OTHER_PROJECT}/secrets/inline-vk-2`);
      const inDefault = await inspector
        .getSecret({ name: `projects/${PROJECT}/secrets/inline-vk-2` })
        .catch((error: { code: number }) => error.code);
      expect(inDefault).toBe(5);
      const read = await server.grpc.read({ names: ["vk-2"], virtualKey: true, teamSettings });
      expect(read.results[0]).toMatchObject({ found: true, value: "sk-inline-b", resolvedName: "inline-vk-2" });
      expect(await server.grpc.delete({ name: "vk-2", virtualKey: true, teamSettings })).toMatchObject({
        name: "inline-vk-2",
      });
    });

    it("stores virtual keys under LiteLLM's default prefix with '-' for its '/' (secret ids cannot hold '/')", async () => {
      const written = await server.grpc.write({ name: "virtual-key-7", value: "sk-virtual-7", virtualKey: true });
      expect(written.name).toBe("litellm-virtual-key-7");
      const [secret] = await inspector.getSecret({ name: `projects/${PROJECT}/secrets/litellm-virtual-key-7` });
      expect(secret.name).toBe(`projects/${PROJECT}/secrets/litellm-virtual-key-7`);
      const read = await server.grpc.read({ names: ["virtual-key-7"], virtualKey: true });
      expect(read.results[0]).toMatchObject({
        found: true,
        value: "sk-virtual-7",
        resolvedName: "litellm-virtual-key-7",
      });
      expect(await server.grpc.delete({ name: "virtual-key-7", virtualKey: true })).toMatchObject({
        name: "litellm-virtual-key-7",
      });
    });

    it("refuses names Secret Manager cannot hold with INVALID_ARGUMENT", async () => {
      const error = await server.grpc
        .write({ name: "litellm/vk", value: "x" })
        .catch((failure: unknown) => ConnectError.from(failure));
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    });

    it("never lets a secret value reach its output, even with the SDK's debug logging requested", () => {
      expect(server.allOutput()).toContain("secretgate listening");
      for (const value of ["sk-team-b", "sk-virtual-7", "intact value", "second"])
        expect(server.allOutput()).not.toContain(value);
    });

    it("deletes permanently (not recoverable)", async () => {
      await server.grpc.write({ name: "E2E_DELETED", value: "x" });
      expect(await server.grpc.delete({ name: "E2E_DELETED" })).toMatchObject({ recoverable: false });
      expect(await readOne("E2E_DELETED")).toMatchObject({ found: false });
    });
  });

describe("google_secret_manager start-up", () => {
  it("fails clearly when no project is configured", async () => {
    const { code, stderr } = await TestServer.startExpectingFailure({
      config: { general_settings: { key_management_system: "google_secret_manager" } },
    });
    expect(code).toBe(2);
    expect(stderr).toContain("GOOGLE_SECRET_MANAGER_PROJECT_ID");
  });
});
