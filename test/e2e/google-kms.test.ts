import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_KEY, type KmsEmulator, startEmulator as startKmsEmulator } from "../emulators/google-kms/index.js";
import { TestServer } from "../helpers/server.js";

describe("google_kms through the server", () => {
  const TEAM_KEY = "projects/emulator-project/locations/global/keyRings/secretgate/cryptoKeys/team-b";
  let emulator: KmsEmulator;
  let server: TestServer;

  beforeAll(async () => {
    emulator = await startKmsEmulator({ host: "127.0.0.1", port: 0 });
    const { ciphertext } = emulator.keys.encrypt({ name: DEFAULT_KEY, plaintext: Buffer.from("sk-from-kms") });
    emulator.keys.create(TEAM_KEY);
    const teams = emulator.keys.encrypt({ name: TEAM_KEY, plaintext: Buffer.from("sk-team-kms") });
    server = await TestServer.start({
      config: { general_settings: { key_management_system: "google_kms" } },
      env: {
        GOOGLE_KMS_RESOURCE_NAME: DEFAULT_KEY,
        GOOGLE_KMS_ENDPOINT: emulator.endpoint,
        OPENAI_API_KEY: (ciphertext as Buffer).toString("base64"),
        TEAM_API_KEY: (teams.ciphertext as Buffer).toString("base64"),
        GOOGLE_SDK_NODE_LOGGING: "*",
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await emulator?.close();
  });

  it("decrypts emulator-encrypted ciphertext from the environment", async () => {
    const { results } = await server.grpc.read({ names: ["os.environ/OPENAI_API_KEY"] });
    expect(results[0]).toMatchObject({ found: true, value: "sk-from-kms", source: "google_kms" });
    expect(emulator.faults.calls().Decrypt).toBe(1);
    expect(server.allOutput()).not.toContain("sk-from-kms");
  });

  it("decrypts under the key a call's team_settings name (resource_name), and only under it", async () => {
    const teamSettings = { resource_name: TEAM_KEY };
    expect((await server.grpc.read({ names: ["TEAM_API_KEY"], teamSettings })).results[0]).toMatchObject({
      found: true,
      value: "sk-team-kms",
    });
    expect((await server.grpc.read({ names: ["TEAM_API_KEY"] })).results[0]).toMatchObject({ found: false });
    expect((await server.grpc.read({ names: ["OPENAI_API_KEY"], teamSettings })).results[0]).toMatchObject({
      found: false,
    });
  });

  it("refuses writes: the back end only decrypts", async () => {
    const error = await server.grpc
      .write({ name: "X", value: "y" })
      .catch((failure: unknown) => ConnectError.from(failure));
    expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
  });
});
