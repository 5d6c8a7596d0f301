import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSecretClient, type SecretClient } from "../../clients/typescript/src/index.js";
import { GetTeamSettingsResponseSchema, SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";
import { SERVER_ENTRY, TestServer } from "../helpers/server.js";

interface Finished {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `secretgate ARGS` (the built entry point bin/secretgate.mjs loads) with `input` on stdin. */
function cli(
  args: string[],
  options: { input?: string | Buffer; env?: Record<string, string> } = {},
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_ENTRY, ...args], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr }));
    child.stdin.end(options.input ?? "");
  });
}

describe("secretgate CLI against a live server", () => {
  let server: TestServer;
  let env: Record<string, string>;
  let admin: SecretClient;

  beforeAll(async () => {
    // The admin token the server accepts (once authentication is on) is what the CLI sends.
    const token = randomBytes(24).toString("base64url");
    server = await TestServer.start({ env: { SECRETGATE_ADMIN_TOKEN: token } });
    env = { SECRETGATE_ADDR: server.grpcAddress, SECRETGATE_TOKEN: token };
    admin = createSecretClient(`http://${server.grpcAddress}`, { token });
  });
  afterAll(async () => {
    await server?.stop();
    if (server) rmSync(server.dataDir, { recursive: true, force: true });
  });

  it("writes from stdin and reads the exact value to stdout, never to stderr", async () => {
    const written = await cli(["write", "CLI_KEY", "--description", "from the CLI", "--tag", "owner=ops"], {
      env,
      input: "sk-cli-secret\n",
    });
    expect(written).toMatchObject({ code: 0 });
    expect(written.stderr).toContain('wrote "CLI_KEY" to local (version 1)');
    expect(written.stderr).not.toContain("sk-cli-secret");

    const read = await cli(["read", "CLI_KEY"], { env });
    expect(read.code).toBe(0);
    // Exactly the value: the trailing newline from stdin was dropped, none is added off a terminal.
    expect(read.stdout.toString("utf8")).toBe("sk-cli-secret");
    expect(read.stderr).toBe("");
    expect(server.allOutput()).not.toContain("sk-cli-secret");
  });

  it("round-trips binary values byte for byte", async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 10, 13, 10]);
    expect((await cli(["write", "CLI_BINARY", "--binary"], { env, input: bytes })).code).toBe(0);
    const read = await cli(["read", "CLI_BINARY"], { env });
    expect(read.code).toBe(0);
    expect(read.stdout.equals(bytes)).toBe(true);
  });

  it("applies --team and --virtual-key through the server's policy", async () => {
    expect((await cli(["team", "set", "cli-team", "-"], { env, input: '{"prefix": "cli-team/"}' })).code).toBe(0);
    expect((await cli(["write", "sk-virtual", "--team", "cli-team", "--virtual-key"], { env, input: "v" })).code).toBe(
      0,
    );
    const result = (await admin.read({ names: ["sk-virtual"], teamId: "cli-team", virtualKey: true })).results[0];
    expect(result).toMatchObject({ resolvedName: "cli-team/sk-virtual", value: "v" });
  });

  it("sends --team-settings JSON with read, write and delete, merged over --team's", async () => {
    const settings = '{"prefix": "cli-inline/"}';
    expect(
      (await cli(["write", "inline-key", "--virtual-key", "--team-settings", settings], { env, input: "iv" })).stderr,
    ).toContain('wrote "cli-inline/inline-key"');
    const read = await cli(["read", "inline-key", "--virtual-key", "--team-settings", settings], { env });
    expect(read).toMatchObject({ code: 0 });
    expect(read.stdout.toString("utf8")).toBe("iv");
    await cli(["team", "set", "cli-merged", "-"], {
      env,
      input: '{"prefix": "stored/", "description": "from the team"}',
    });
    const merged = await cli(
      ["write", "merged-key", "--team", "cli-merged", "--virtual-key", "--team-settings", settings],
      { env, input: "mv" },
    );
    expect(merged.stderr).toContain('wrote "cli-inline/merged-key"');
    const deleted = await cli(["delete", "inline-key", "--virtual-key", "--team-settings", settings], { env });
    expect(deleted).toMatchObject({ code: 0 });
    expect(deleted.stderr).toContain('deleted "cli-inline/inline-key"');

    const notJson = await cli(["read", "x", "--team-settings", '{"prefix": "secret-ish'], { env });
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain("--team-settings: not valid JSON");
    expect(notJson.stderr).not.toContain("secret-ish");
    expect((await cli(["read", "x", "--team-settings", "[1]"], { env })).stderr).toContain(
      "--team-settings: must be a JSON object",
    );
    const unknown = await cli(["delete", "x", "--team-settings", '{"namespace": "vault-only"}'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('team_settings: unknown key "namespace"');
  });

  it("gets, sets and clears team settings as JSON", async () => {
    const set = await cli(["team", "set", "team-json", '{"prefix": "tj/"}'], { env });
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout.toString("utf8"))).toEqual({
      team_id: "team-json",
      configured: true,
      settings: { prefix: "tj/" },
    });
    const got = await cli(["team", "get", "team-json"], { env });
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout.toString("utf8"))).toMatchObject({
      configured: true,
      settings: { prefix: "tj/" },
      updated_at: expect.any(String),
    });
    expect((await cli(["team", "set", "team-json", "--clear"], { env })).code).toBe(0);
    expect(JSON.parse((await cli(["team", "get", "team-json"], { env })).stdout.toString("utf8"))).toMatchObject({
      configured: false,
    });
  });

  it("describes the server's back ends as a table, or as JSON with each one's team-settings schema", async () => {
    const table = await cli(["backends"], { env });
    expect(table.code).toBe(0);
    const [header, row, ...rest] = table.stdout.toString("utf8").trimEnd().split("\n");
    expect(header!.split(/\s+/)).toEqual([
      "NAME",
      "SYSTEM",
      "ACCESS",
      "DEFAULT",
      "REACHABLE",
      "BREAKER",
      "CACHED",
      "CAN",
    ]);
    expect(row!.split(/\s+/)).toEqual([
      "local",
      "local",
      "read_and_write",
      "yes",
      "yes",
      "closed",
      expect.stringMatching(/^\d+$/),
      "write,binary,list",
    ]);
    expect(rest).toEqual([]);
    const json = await cli(["backends", "--json"], { env });
    expect(json.code).toBe(0);
    const [local] = JSON.parse(json.stdout.toString("utf8")) as Array<Record<string, any>>;
    expect(local).toMatchObject({
      name: "local",
      system: "local",
      is_default: true,
      capabilities: { write: true, binary: true, list: true },
    });
    expect(Object.keys(local!.team_settings_schema.properties).sort()).toEqual([
      "backend",
      "description",
      "prefix",
      "tags",
    ]);
    expect((await cli(["backends", "extra"], { env })).code).toBe(2);
  });

  it("addresses one back end with --backend, and exits 2 for one the server does not have", async () => {
    expect((await cli(["write", "CLI_ADDRESSED", "--backend", "local"], { env, input: "sk-addressed" })).code).toBe(0);
    const read = await cli(["read", "local://CLI_ADDRESSED"], { env });
    expect(read.stdout.toString("utf8")).toBe("sk-addressed");
    const elsewhere = await cli(["read", "CLI_ADDRESSED", "--backend", "nowhere"], { env });
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('backend "nowhere" is not a configured back end');
    expect((await cli(["delete", "CLI_ADDRESSED", "--backend", "local"], { env })).code).toBe(0);
  });

  it("exits 3 for a missing secret and 0 / 3 for deleting it twice", async () => {
    const missing = await cli(["read", "NO_SUCH_SECRET"], { env });
    expect(missing.code).toBe(3);
    expect(missing.stdout.length).toBe(0);
    expect(missing.stderr).toMatch(/cannot read "NO_SUCH_SECRET".*NOT_FOUND/);

    await cli(["write", "TO_DELETE"], { env, input: "x" });
    expect(await cli(["delete", "TO_DELETE"], { env })).toMatchObject({ code: 0 });
    const again = await cli(["delete", "TO_DELETE"], { env });
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('"TO_DELETE" does not exist');
  });

  it("exits 2 for usage errors and for arguments the server rejects", async () => {
    expect((await cli(["read"], { env })).code).toBe(2);
    expect((await cli(["read", "A", "B"], { env })).code).toBe(2);
    expect((await cli(["write", "X", "--no-such-flag"], { env })).code).toBe(2);
    expect((await cli(["frobnicate"], { env })).code).toBe(2);
    expect((await cli(["team", "set", "t", "{not json"], { env })).stderr).toContain("not valid JSON");
    const rejected = await cli(["team", "set", "t", '{"unknown_key": "x"}'], { env });
    expect(rejected.code).toBe(2);
    expect(rejected.stderr).toContain('unknown key "unknown_key"');
    expect((await cli(["encrypt"], { env })).code).toBe(2);
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout.toString("utf8")).toContain("Exit codes:");
  });

  it("exits 5 with a hint when no server answers", async () => {
    const result = await cli(["read", "X", "--addr", "127.0.0.1:1", "--timeout", "3"]);
    expect(result.code).toBe(5);
    expect(result.stderr).toContain("UNAVAILABLE");
    expect(result.stderr).toContain("SECRETGATE_ADDR");
  });
});

describe("secretgate CLI credentials", () => {
  let fake: Http2Server;
  let address: string;
  const seen: string[] = [];

  // A stand-in server that only checks the bearer token: the CLI's side of authentication.
  beforeAll(async () => {
    fake = createServer(
      connectNodeAdapter({
        routes: (router) =>
          router.service(SecretService, {
            getTeamSettings: (request, context) => {
              const authorization = context.requestHeader.get("authorization") ?? "";
              seen.push(authorization);
              if (authorization !== "Bearer cli-token")
                throw new ConnectError("missing or wrong token", Code.Unauthenticated);
              return create(GetTeamSettingsResponseSchema, { teamId: request.teamId, configured: false });
            },
          }),
      }),
    );
    await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
    address = `127.0.0.1:${(fake.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => fake.close(() => resolve())));

  it("sends SECRETGATE_TOKEN or --token as a bearer token, and exits 4 when refused", async () => {
    const refused = await cli(["team", "get", "t"], { env: { SECRETGATE_ADDR: address } });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("SECRETGATE_TOKEN");
    expect(
      (await cli(["team", "get", "t"], { env: { SECRETGATE_ADDR: address, SECRETGATE_TOKEN: "cli-token" } })).code,
    ).toBe(0);
    expect((await cli(["team", "get", "t", "--addr", address, "--token", "cli-token"])).code).toBe(0);
    expect(seen).toEqual(["", "Bearer cli-token", "Bearer cli-token"]);
  });
});

describe("secretgate CLI: the operator commands", () => {
  let server: TestServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    const token = randomBytes(24).toString("base64url");
    server = await TestServer.start({ env: { SECRETGATE_ADMIN_TOKEN: token } });
    env = { SECRETGATE_ADDR: server.grpcAddress, SECRETGATE_TOKEN: token };
  });
  afterAll(async () => {
    await server?.stop();
    if (server) rmSync(server.dataDir, { recursive: true, force: true });
  });

  it("team test probes without storing; team list shows the teams with settings", async () => {
    const tested = await cli(["team", "test", "team-cli", "-"], { env, input: '{"prefix": "cli/"}' });
    expect(tested.code, tested.stderr).toBe(0);
    expect(JSON.parse(tested.stdout.toString("utf8"))).toEqual({ backend: "local", reachable: true, status: "OK" });
    const invalid = await cli(["team", "test", "team-cli", '{"no_such_key": 1}'], { env });
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain("no_such_key");
    expect((await cli(["team", "set", "team-cli", '{"prefix": "cli/"}'], { env })).code).toBe(0);
    const listed = await cli(["team", "list"], { env });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.toString("utf8")).toMatch(/^TEAM\s+BACKEND\s+UPDATED\nteam-cli\s+local\s+\d{4}-/);
  });

  it("callers and stats print tables, or JSON with --json, and never the token", async () => {
    const callers = await cli(["callers", "--json"], { env });
    expect(callers.code, callers.stderr).toBe(0);
    expect(JSON.parse(callers.stdout.toString("utf8"))).toEqual([
      {
        name: "admin",
        kind: "admin_token",
        rules: {
          read: ["*"],
          write: ["*"],
          delete: ["*"],
          teams: ["*"],
          backends: ["*"],
          admin: true,
          inline_team_settings: true,
        },
      },
    ]);
    expect(callers.stdout.toString("utf8")).not.toContain(env.SECRETGATE_TOKEN);
    await cli(["read", "ANY_NAME"], { env });
    const stats = await cli(["stats"], { env });
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout.toString("utf8")).toMatch(
      /^BACKEND\s+CALLS\s+ERRORS\s+CACHE HITS\s+CACHE MISSES\s+P50 MS\s+P99 MS\nlocal\s+\d+/,
    );
  });

  it("audit tail prints the records written meanwhile as JSON lines until interrupted", async () => {
    const child = spawn(process.execPath, [SERVER_ENTRY, "audit", "tail"], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    const sawRead = new Promise<void>((resolve) => {
      let buffer = "";
      child.stdout.on("data", (chunk: Buffer) => {
        buffer += chunk.toString("utf8");
        const parts = buffer.split("\n");
        buffer = parts.pop()!;
        lines.push(...parts);
        if (lines.some((line) => line.includes('"method":"Read"'))) resolve();
      });
    });
    // The tail's own record shows it is open; then a Read made meanwhile appears.
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    await server.client(env.SECRETGATE_TOKEN).read({ names: ["TAILED_NAME"] });
    await sawRead;
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(code).toBe(0);
    const read = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((record) => record.method === "Read")!;
    expect(read).toMatchObject({ identity: "admin", outcome: "OK" });
  });
});
