import { rmSync } from "node:fs";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestServer } from "../helpers/server.js";

// An editor (the console, or a script) reads a team's settings with GetTeamSettings, which
// redacts credentials, changes one key and sends them all back: the credential it did not touch
// must keep its stored value, and "[redacted]" must never be stored as one.

const EXTERNAL_ID = "external-id-5c1f9a7e3b";
let server: TestServer;

beforeAll(async () => {
  server = await TestServer.start({
    config: {
      general_settings: {
        key_management_system: "aws_secret_manager",
        key_management_settings: { access_mode: "read_and_write" },
      },
    },
    // Nothing listens there: these tests only store settings.
    env: {
      AWS_REGION_NAME: "us-east-1",
      AWS_ENDPOINT_URL: "http://127.0.0.1:9",
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "secret-access-key-example",
    },
  });
});

afterAll(async () => {
  if (!server) return;
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
});

describe("SetTeamSettings with a redacted credential", () => {
  it("keeps the stored credential when the edit sends it back redacted", async () => {
    await server.grpc.setTeamSettings({
      teamId: "team-edit",
      settings: { aws_external_id: EXTERNAL_ID, aws_region_name: "us-east-1" },
    });
    const shown = await server.grpc.getTeamSettings({ teamId: "team-edit" });
    expect(shown.settings).toEqual({ aws_external_id: "[redacted]", aws_region_name: "us-east-1" });
    const edited = await server.grpc.setTeamSettings({
      teamId: "team-edit",
      settings: { ...shown.settings, aws_region_name: "eu-west-1" },
    });
    expect(edited.settings).toEqual({ aws_external_id: "[redacted]", aws_region_name: "eu-west-1" });
    // Had "[redacted]" been stored, sending it back again would now be refused.
    await server.grpc.setTeamSettings({
      teamId: "team-edit",
      settings: { aws_external_id: "[redacted]", aws_region_name: "eu-west-2" },
    });
  });

  it("refuses a redacted credential where none is stored, naming the key, and stores nothing", async () => {
    const error = await server.grpc
      .setTeamSettings({ teamId: "team-fresh", settings: { aws_external_id: "[redacted]" } })
      .then(
        () => undefined,
        (caught: unknown) => caught as ConnectError,
      );
    expect(error).toBeInstanceOf(ConnectError);
    expect(error!.code).toBe(Code.InvalidArgument);
    expect(error!.rawMessage).toContain("settings.aws_external_id");
    expect((await server.grpc.getTeamSettings({ teamId: "team-fresh" })).configured).toBe(false);
  });
});
