import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callFailure } from "../helpers/call-failure.js";
import { TestServer } from "../helpers/server.js";

const run = promisify(execFile);

// Every value written in this file; the log scan at the end proves none reached a log line.
const usedValues: string[] = [];
const secretValue = (label: string) => {
  const value = `sk-${label}-${randomBytes(12).toString("hex")}`;
  usedValues.push(value);
  return value;
};

const servers: TestServer[] = [];
async function startServer(options: Parameters<typeof TestServer.start>[0] = {}): Promise<TestServer> {
  const server = await TestServer.start(options);
  servers.push(server);
  return server;
}

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  const logs = servers.map((server) => server.allOutput()).join("\n");
  expect(logs.length).toBeGreaterThan(0);
  for (const value of usedValues)
    expect(logs.includes(value), "a secret value appeared in the server's logs").toBe(false);
});

describe("embedded default over both protocols", () => {
  let server: TestServer;
  const envValue = secretValue("env");

  beforeAll(async () => {
    server = await startServer({
      config: { secretgate: { environment: { serve: ["PROVIDER_FROM_ENV"] } } },
      env: { PROVIDER_FROM_ENV: envValue },
    });
  });

  it("writes over gRPC and reads a batch of found, missing and env-sourced names over gRPC", async () => {
    const stored = secretValue("stored");
    const written = await server.grpc.write({ name: "OPENAI_API_KEY", value: stored });
    expect(written).toMatchObject({ name: "OPENAI_API_KEY", version: "1", source: "local" });

    const { results } = await server.grpc.read({
      names: ["OPENAI_API_KEY", "NOT_ANYWHERE", "os.environ/PROVIDER_FROM_ENV"],
    });
    expect(results.map((result) => result.name)).toEqual(["OPENAI_API_KEY", "NOT_ANYWHERE", "PROVIDER_FROM_ENV"]);
    expect(results[0]).toMatchObject({ found: true, value: stored, source: "local", version: "1" });
    expect(results[0]!.fetchedAt).toBeDefined();
    expect(results[1]).toMatchObject({
      found: false,
      value: "",
      error: { code: Code.NotFound, status: "NOT_FOUND", reason: "NOT_IN_BACKEND" },
    });
    expect(results[1]!.error!.message).toContain("NOT_ANYWHERE");
    expect(results[2]).toMatchObject({ found: true, value: envValue, source: "env", version: "" });
  });

  it("serves the same over Connect JSON with plain fetch, as curl would", async () => {
    const stored = secretValue("json");
    const write = await server.json("Write", { name: "ANTHROPIC_API_KEY", value: stored });
    expect(write).toMatchObject({ status: 200, body: { name: "ANTHROPIC_API_KEY", version: "1", source: "local" } });
    const read = await server.json("Read", { names: ["ANTHROPIC_API_KEY", "MISSING_TOO"] });
    expect(read.status).toBe(200);
    expect(read.body.results[0]).toMatchObject({
      name: "ANTHROPIC_API_KEY",
      found: true,
      value: stored,
      source: "local",
    });
    expect(read.body.results[1]).toMatchObject({ name: "MISSING_TOO", error: { status: "NOT_FOUND" } });
    expect(read.body.results[1].found).toBeUndefined();
  });

  it("makes a new version on overwrite and rotates in place and to a new name", async () => {
    await server.grpc.write({ name: "ROTATE_ME", value: secretValue("v1") });
    const second = secretValue("v2");
    expect((await server.grpc.write({ name: "ROTATE_ME", value: second })).version).toBe("2");

    const inPlace = secretValue("rotated");
    expect(await server.grpc.rotate({ currentName: "ROTATE_ME", value: inPlace })).toMatchObject({
      name: "ROTATE_ME",
      version: "3",
      oldDeleted: false,
    });
    const moved = secretValue("moved");
    const rotated = await server.grpc.rotate({ currentName: "ROTATE_ME", newName: "ROTATED", value: moved });
    expect(rotated).toMatchObject({ name: "ROTATED", oldDeleted: true });
    const { results } = await server.grpc.read({ names: ["ROTATED", "ROTATE_ME"] });
    expect(results[0]).toMatchObject({ found: true, value: moved });
    expect(results[1]).toMatchObject({ found: false });

    const missing = await callFailure(server.grpc.rotate({ currentName: "NEVER_WRITTEN", value: secretValue("x") }));
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.message).toContain("current_name");
  });

  it("deletes, and a second delete is NOT_FOUND", async () => {
    await server.grpc.write({ name: "DELETE_ME", value: secretValue("doomed") });
    expect(await server.grpc.delete({ name: "DELETE_ME" })).toMatchObject({ name: "DELETE_ME", recoverable: false });
    expect((await server.grpc.read({ names: ["DELETE_ME"] })).results[0]).toMatchObject({ found: false });
    const again = await callFailure(server.grpc.delete({ name: "DELETE_ME" }));
    expect(again.code).toBe(Code.NotFound);
    expect(again.message).toContain("DELETE_ME");
  });

  it("stores binary values and returns them as bytes", async () => {
    const bytes = new Uint8Array([0, 255, 1, 254, ...randomBytes(16)]);
    await server.grpc.write({ name: "BINARY_KEY", binaryValue: bytes });
    const [result] = (await server.grpc.read({ names: ["BINARY_KEY"] })).results;
    expect(Buffer.from(result!.binaryValue).equals(Buffer.from(bytes))).toBe(true);
    expect(result!.value).toBe("");
  });

  it("applies prefix_for_stored_virtual_keys to virtual keys on write, read and delete", async () => {
    const key = secretValue("virtual");
    const written = await server.grpc.write({ name: "virtual-key-123", value: key, virtualKey: true });
    expect(written.name).toBe("litellm/virtual-key-123");
    const [result] = (await server.grpc.read({ names: ["virtual-key-123"], virtualKey: true })).results;
    expect(result).toMatchObject({ found: true, value: key, resolvedName: "litellm/virtual-key-123" });
    expect((await server.grpc.read({ names: ["litellm/virtual-key-123"] })).results[0]).toMatchObject({ found: true });
    expect(await server.grpc.delete({ name: "virtual-key-123", virtualKey: true })).toMatchObject({
      name: "litellm/virtual-key-123",
    });
  });

  it("round-trips team settings, applies the team prefix, and rejects unknown keys naming them", async () => {
    const set = await server.grpc.setTeamSettings({
      teamId: "team-a",
      settings: { prefix: "team-a/", tags: { owner: "a" } },
    });
    expect(set).toMatchObject({
      teamId: "team-a",
      configured: true,
      settings: { prefix: "team-a/", tags: { owner: "a" } },
    });
    const got = await server.grpc.getTeamSettings({ teamId: "team-a" });
    expect(got).toMatchObject({ configured: true, settings: { prefix: "team-a/" } });
    expect(got.updatedAt).toBeDefined();

    const written = await server.grpc.write({
      name: "k1",
      value: secretValue("team"),
      teamId: "team-a",
      virtualKey: true,
    });
    expect(written.name).toBe("team-a/k1");

    const unknown = await callFailure(
      server.grpc.setTeamSettings({ teamId: "team-a", settings: { prefix: "x/", region: "eu" } }),
    );
    expect(unknown.code).toBe(Code.InvalidArgument);
    expect(unknown.message).toContain('"region"');
    const wrongType = await server.json("SetTeamSettings", { teamId: "team-a", settings: { prefix: 42 } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body).toMatchObject({ code: "invalid_argument" });
    expect(wrongType.body.message).toContain("settings.prefix");
    // The rejected updates changed nothing.
    expect((await server.grpc.getTeamSettings({ teamId: "team-a" })).settings).toEqual({
      prefix: "team-a/",
      tags: { owner: "a" },
    });

    expect(await server.grpc.setTeamSettings({ teamId: "team-a", settings: {} })).toMatchObject({ configured: false });
    expect(await server.grpc.getTeamSettings({ teamId: "team-a" })).toMatchObject({ configured: false, settings: {} });
  });

  it("applies team settings sent with a call, merged over the named team's, to that call only", async () => {
    await server.grpc.setTeamSettings({ teamId: "team-i", settings: { prefix: "team-i/", description: "stored" } });
    const inline = secretValue("inline");
    expect(
      await server.grpc.write({ name: "k2", value: inline, virtualKey: true, teamSettings: { prefix: "inline/" } }),
    ).toMatchObject({ name: "inline/k2" });
    const merged = await server.grpc.write({
      name: "k3",
      value: secretValue("merged"),
      virtualKey: true,
      teamId: "team-i",
      teamSettings: { prefix: "both/" },
    });
    expect(merged.name).toBe("both/k3");
    expect(
      (await server.grpc.write({ name: "k3", value: secretValue("stored"), virtualKey: true, teamId: "team-i" })).name,
    ).toBe("team-i/k3");
    const [read] = (await server.grpc.read({ names: ["k2"], virtualKey: true, teamSettings: { prefix: "inline/" } }))
      .results;
    expect(read).toMatchObject({ found: true, value: inline, resolvedName: "inline/k2" });
    expect(
      (
        await server.grpc.rotate({
          currentName: "k2",
          newName: "k2b",
          value: secretValue("moved"),
          virtualKey: true,
          teamSettings: { prefix: "inline/" },
        })
      ).name,
    ).toBe("inline/k2b");
    expect(
      await server.grpc.delete({ name: "k2b", virtualKey: true, teamSettings: { prefix: "inline/" } }),
    ).toMatchObject({ name: "inline/k2b" });
    const unknown = await callFailure(
      server.grpc.write({ name: "k4", value: secretValue("x"), teamSettings: { namespace: "ns" } }),
    );
    expect(unknown).toMatchObject({ code: Code.InvalidArgument, message: 'team_settings: unknown key "namespace"' });
  });

  it("lists stored names with whether they resolve, never values", async () => {
    const listed = await server.json("ListHosted", {});
    expect(listed.status).toBe(200);
    const names = listed.body.keys.map((key: { name: string }) => key.name);
    expect(names).toContain("OPENAI_API_KEY");
    expect(JSON.stringify(listed.body)).not.toMatch(/sk-/);
    expect(listed.body.keys.find((key: { name: string }) => key.name === "OPENAI_API_KEY")).toMatchObject({
      resolves: true,
      source: "local",
      version: "1",
    });
  });

  it("answers /healthz and /readyz, and the gRPC health service reports SERVING", async () => {
    expect((await fetch(`http://${server.httpAddress}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${server.httpAddress}/readyz`)).status).toBe(200);
    const response = await rawGrpcCall(server.grpcAddress, "/grpc.health.v1.Health/Check", Buffer.alloc(0));
    // HealthCheckResponse { status: SERVING (1) } is field 1, varint 1.
    expect(response.equals(Buffer.from([0x08, 0x01]))).toBe(true);
  });

  it("lists the service through server reflection (buf curl, no .proto files)", async () => {
    const { stdout } = await run("npx", [
      "buf",
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--list-methods",
      `http://${server.grpcAddress}`,
    ]);
    expect(stdout).toContain("secretgate.v1.SecretService/Read");
    expect(stdout).toContain("secretgate.v1.SecretService/SetTeamSettings");
  });
});

describe("bad input gets a clear error naming the field and loses nothing", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });

  it.each([
    ["an empty name", "", "name must not be empty"],
    ["a name over 512 bytes", "n".repeat(513), "name is 513 bytes long; the limit is 512 bytes"],
    ["a control character", "bad\u0007name", "control or line-separator character"],
    ["a line separator", "bad\u2028name", "control or line-separator character"],
    ["a '..' segment", "teams/../admin", "'..' path segment"],
    ["an empty segment", "a//b", "empty path segment"],
  ])("refuses %s in Write with INVALID_ARGUMENT", async (_label, name, message) => {
    const failure = await callFailure(server.grpc.write({ name, value: secretValue("bad-name") }));
    expect(failure.code).toBe(Code.InvalidArgument);
    expect(failure.message).toContain(message);
  });

  it("refuses a bad name inside a batch Read per item, answering the others", async () => {
    const { results } = await server.grpc.read({ names: ["fine", "a/../b"] });
    expect(results[0]!.error?.status).toBe("NOT_FOUND");
    expect(results[1]!.error).toMatchObject({ status: "INVALID_ARGUMENT" });
    expect(results[1]!.error!.message).toContain("names[1]");
  });

  it("refuses a value over 64 KiB and stores nothing", async () => {
    const failure = await callFailure(server.grpc.write({ name: "TOO_BIG", value: "x".repeat(64 * 1024 + 1) }));
    expect(failure.code).toBe(Code.InvalidArgument);
    expect(failure.message).toBe("value is 65537 bytes; the limit is 65536 bytes");
    expect((await server.grpc.read({ names: ["TOO_BIG"] })).results[0]).toMatchObject({ found: false });
  });

  it("refuses an empty value and both value kinds at once", async () => {
    expect((await callFailure(server.grpc.write({ name: "EMPTY", value: "" }))).message).toBe(
      "value must not be empty",
    );
    const both = await callFailure(server.grpc.write({ name: "BOTH", value: "x", binaryValue: new Uint8Array([1]) }));
    expect(both).toMatchObject({ code: Code.InvalidArgument, message: "set only one of value and binary_value" });
  });

  it("refuses an empty Read and one of 1,001 names", async () => {
    expect(await callFailure(server.grpc.read({ names: [] }))).toMatchObject({
      code: Code.InvalidArgument,
      message: "names must list at least one name",
    });
    const names = Array.from({ length: 1001 }, (_, index) => `N${index}`);
    expect(await callFailure(server.grpc.read({ names }))).toMatchObject({
      code: Code.InvalidArgument,
      message: "names lists 1001 names; the limit is 1000 per Read",
    });
  });

  it("refuses a bad team id", async () => {
    const failure = await callFailure(server.grpc.getTeamSettings({ teamId: "team with spaces" }));
    expect(failure.code).toBe(Code.InvalidArgument);
    expect(failure.message).toContain("team_id");
  });

  it("answers a malformed protobuf body on the gRPC port with INVALID_ARGUMENT", async () => {
    const error = await rawGrpcCall(
      server.grpcAddress,
      "/secretgate.v1.SecretService/Read",
      Buffer.from([0x0a, 0xff, 0xff, 0xff]),
    ).then(
      () => undefined,
      (failure: grpc.ServiceError) => failure,
    );
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toContain("secretgate.v1.ReadRequest");
  });

  it("answers a malformed protobuf body on the Connect port with invalid_argument in Connect, gRPC-Web and gRPC", async () => {
    const url = `http://${server.httpAddress}/secretgate.v1.SecretService/Read`;
    const malformed = Buffer.from([0x0a, 0xff, 0xff, 0xff]);
    const enveloped = Buffer.concat([Buffer.from([0, 0, 0, 0, malformed.length]), malformed]);

    const connect = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: malformed,
    });
    expect(connect.status).toBe(400);
    expect(await connect.json()).toMatchObject({
      code: "invalid_argument",
      message: expect.stringContaining("secretgate.v1.ReadRequest"),
    });

    // gRPC-Web: HTTP 200, the status in the trailer envelope (flag 0x80) that ends the body.
    const grpcWeb = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: enveloped,
    });
    expect(grpcWeb.status).toBe(200);
    const body = Buffer.from(await grpcWeb.arrayBuffer());
    expect(body[0]).toBe(0x80);
    const trailer = body.subarray(5, 5 + body.readUInt32BE(1)).toString("utf8");
    expect(trailer).toContain("grpc-status: 3");
    expect(decodeURIComponent(trailer)).toContain("not a valid secretgate.v1.ReadRequest");

    const grpcOverHttpPort = await rawGrpcCall(server.httpAddress, "/secretgate.v1.SecretService/Read", malformed).then(
      () => undefined,
      (failure: grpc.ServiceError) => failure,
    );
    expect(grpcOverHttpPort?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(grpcOverHttpPort?.details).toContain("secretgate.v1.ReadRequest");
  });

  it("answers malformed JSON on the Connect port with invalid_argument", async () => {
    const response = await fetch(`http://${server.httpAddress}/secretgate.v1.SecretService/SetTeamSettings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"teamId": "t", "settings": {"prefix": ',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "invalid_argument" });
  });
});

describe("access modes and hosted keys", () => {
  it("read_only refuses Write, Delete and Rotate with FAILED_PRECONDITION", async () => {
    const server = await startServer({
      config: { general_settings: { key_management_settings: { access_mode: "read_only" } } },
    });
    // Started one at a time: a call started early could reject before anything awaits it.
    for (const call of [
      () => server.grpc.write({ name: "X", value: secretValue("ro") }),
      () => server.grpc.delete({ name: "X" }),
      () => server.grpc.rotate({ currentName: "X", value: secretValue("ro2") }),
    ]) {
      const failure = await callFailure(call());
      expect(failure.code).toBe(Code.FailedPrecondition);
      expect(failure.message).toContain("access_mode is read_only");
    }
  });

  it("write_only writes to the store but reads are not hosted: only names environment.serve lists come from the environment", async () => {
    const envValue = secretValue("wo-env");
    const server = await startServer({
      config: {
        general_settings: { key_management_settings: { access_mode: "write_only" } },
        secretgate: { environment: { serve: ["SHARED_NAME"] } },
      },
      env: { SHARED_NAME: envValue, UNLISTED_NAME: secretValue("wo-unlisted") },
    });
    await server.grpc.write({ name: "SHARED_NAME", value: secretValue("wo-stored") });
    await server.grpc.write({ name: "UNLISTED_NAME", value: secretValue("wo-stored-2") });
    const { results } = await server.grpc.read({ names: ["SHARED_NAME", "UNLISTED_NAME"] });
    expect(results[0]).toMatchObject({ found: true, source: "env", value: envValue });
    expect(results[1]).toMatchObject({ found: false, value: "", error: { status: "NOT_FOUND", reason: "NOT_HOSTED" } });
    expect(results[1]!.error!.message).toContain("access_mode is write_only");
  });

  it("read_and_write with hosted_keys reads listed names from the store and others from the environment that environment.serve lists", async () => {
    const envValue = secretValue("hosted-env");
    const server = await startServer({
      config: {
        general_settings: { key_management_settings: { access_mode: "read_and_write", hosted_keys: ["HOSTED"] } },
        secretgate: { environment: { serve: ["NOT_HOSTED"] } },
      },
      env: { NOT_HOSTED: envValue },
    });
    const hosted = secretValue("hosted");
    await server.grpc.write({ name: "HOSTED", value: hosted });
    await server.grpc.write({ name: "NOT_HOSTED", value: secretValue("ignored") });
    const { results } = await server.grpc.read({ names: ["HOSTED", "NOT_HOSTED"] });
    expect(results[0]).toMatchObject({ source: "local", value: hosted });
    expect(results[1]).toMatchObject({ source: "env", value: envValue });
    // Virtual keys never come from the environment, whatever environment.serve lists; and hosted_keys
    // governs provider keys, so a virtual key is looked up in the store (which does not hold this one).
    const [virtual] = (await server.grpc.read({ names: ["NOT_HOSTED"], virtualKey: true })).results;
    expect(virtual).toMatchObject({
      found: false,
      value: "",
      resolvedName: "litellm/NOT_HOSTED",
      error: { status: "NOT_FOUND", reason: "NOT_IN_BACKEND" },
    });
    const listed = await server.grpc.listHosted({});
    expect(listed.keys.find((key) => key.name === "HOSTED")).toMatchObject({ resolves: true, source: "local" });
  });

  it("never serves secretgate's own settings from the environment, even when environment.serve matches them", async () => {
    const server = await startServer({
      config: { secretgate: { environment: { serve: ["*"] } } },
      env: { SECRETGATE_MASTER_KEY: randomBytes(32).toString("base64") },
    });
    const [result] = (await server.grpc.read({ names: ["SECRETGATE_MASTER_KEY"] })).results;
    expect(result).toMatchObject({ found: false, value: "", error: { status: "NOT_FOUND" } });
  });

  it("answers NOT_FOUND for names that are members of every JavaScript object, not the member", async () => {
    const server = await startServer();
    const names = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];
    const { results } = await server.grpc.read({ names });
    expect(results.map((result) => [result.name, result.found, result.error?.status])).toEqual(
      names.map((name) => [name, false, "NOT_FOUND"]),
    );
  });
});

describe("durability and start-up", () => {
  it("keeps a written value across a restart", async () => {
    const first = await startServer();
    const value = secretValue("durable");
    await first.grpc.write({ name: "DURABLE", value });
    expect(await first.stop()).toBe(0);
    const second = await startServer({ dataDir: first.dataDir });
    expect((await second.grpc.read({ names: ["DURABLE"] })).results[0]).toMatchObject({
      found: true,
      value,
      version: "1",
    });
  });

  it("refuses to start with a master key that is not the data directory's", async () => {
    const first = await startServer({ env: { SECRETGATE_MASTER_KEY: randomBytes(32).toString("base64") } });
    await first.stop();
    const failure = await TestServer.startExpectingFailure({
      dataDir: first.dataDir,
      env: { SECRETGATE_MASTER_KEY: randomBytes(32).toString("base64") },
    });
    expect(failure.code).toBe(2);
    expect(failure.stderr).toContain("is not the key");
  });

  it("refuses an unknown key_management_system, naming the key", async () => {
    const failure = await TestServer.startExpectingFailure({
      config: { general_settings: { key_management_system: "hashicorp_vaultt" } },
    });
    expect(failure.code).toBe(2);
    expect(failure.stderr).toContain("general_settings.key_management_system");
    expect(failure.stderr).toContain("hashicorp_vaultt");
  });

  it("refuses a malformed setting, naming the key and the reason", async () => {
    const failure = await TestServer.startExpectingFailure({
      config: { general_settings: { key_management_settings: { access_mode: "sometimes" } } },
    });
    expect(failure.code).toBe(2);
    expect(failure.stderr).toContain("general_settings.key_management_settings.access_mode");
  });

  it("stops gracefully on SIGTERM with exit code 0", async () => {
    const server = await startServer();
    await server.grpc.write({ name: "BEFORE_STOP", value: secretValue("stop") });
    expect(await server.stop("SIGTERM")).toBe(0);
    expect(server.logLines.some((line) => line.includes('"secretgate stopped"'))).toBe(true);
  });
});

/** A unary call with raw bytes both ways, for what typed clients cannot send. */
function rawGrpcCall(address: string, path: string, body: Buffer): Promise<Buffer> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => bytes,
      body,
      (error, response) => {
        client.close();
        if (error) reject(error);
        else resolve(response!);
      },
    );
  });
}
