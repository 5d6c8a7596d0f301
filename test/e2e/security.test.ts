import { execFile } from "node:child_process";
import { hash, randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";
import { callFailure } from "../helpers/call-failure.js";
import { TestCa } from "../helpers/certificates.js";
import { TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";

const run = promisify(execFile);
const token = () => `tok_${randomBytes(24).toString("base64url")}`;

const servers: TestServer[] = [];
async function start(options: Parameters<typeof TestServer.start>[0]): Promise<TestServer> {
  const server = await TestServer.start(options);
  servers.push(server);
  return server;
}
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

describe("authentication", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start({});
    await server.grpc.write({ name: "OPENAI_API_KEY", value: "sk-authn-test-value" });
  });

  it("answers UNAUTHENTICATED without a token or with a wrong one, on both listeners", async () => {
    expect((await callFailure(server.client(undefined).read({ names: ["OPENAI_API_KEY"] }))).code).toBe(
      Code.Unauthenticated,
    );
    expect((await callFailure(server.client(token()).read({ names: ["OPENAI_API_KEY"] }))).code).toBe(
      Code.Unauthenticated,
    );
    const missing = await server.json("Read", { names: ["OPENAI_API_KEY"] }, { authorization: "" });
    expect(missing).toMatchObject({ status: 401, body: { code: "unauthenticated" } });
    const wrong = await server.json("Read", { names: ["OPENAI_API_KEY"] }, { authorization: `Bearer ${token()}` });
    expect(wrong).toMatchObject({ status: 401, body: { code: "unauthenticated" } });
    const malformed = await server.json("Read", { names: ["OPENAI_API_KEY"] }, { authorization: "Basic abc" });
    expect(malformed.body.message).toContain("Bearer");
  });

  it("refuses a SECRETGATE_ADMIN_TOKEN shorter than a configured token may be, with exit code 2 naming it and never showing it", async () => {
    for (const adminToken of ["x", "123456789012345"]) {
      const failure = await TestServer.startExpectingFailure({ adminToken });
      expect(failure.code, JSON.stringify(adminToken)).toBe(2);
      expect(failure.stderr).toContain("SECRETGATE_ADMIN_TOKEN must be at least 16 characters");
      expect(failure.stderr).not.toMatch(/\n\s+at /);
      if (adminToken.length > 1) expect(failure.stderr).not.toContain(adminToken);
    }
    // Sixteen characters, the configured tokens' minimum, are enough.
    const sixteen = `a${randomBytes(8).toString("hex").slice(0, 15)}`;
    const accepted = await start({ adminToken: sixteen });
    expect((await accepted.grpc.read({ names: ["ANY_NAME"] })).results).toHaveLength(1);
  });

  it("keeps health, readiness and reflection open", async () => {
    expect((await fetch(`http://${server.httpAddress}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${server.httpAddress}/readyz`)).status).toBe(200);
    const { stdout } = await run("npx", [
      "buf",
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--list-services",
      `http://${server.grpcAddress}`,
    ]);
    expect(stdout).toContain("secretgate.v1.SecretService");
    const client = new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure());
    const status = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        "/grpc.health.v1.Health/Check",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        (error, response) => (error ? reject(error) : resolve(response!)),
      ),
    );
    client.close();
    expect(status.equals(Buffer.from([0x08, 0x01]))).toBe(true);
  });

  it("answers /readyz whatever its query holds: only strict, strict=1 or strict=true asks for the strict variant", async () => {
    const probe = async (query: string) => {
      const response = await fetch(`http://${server.httpAddress}/readyz${query}`);
      const body = (await response.json()) as Record<string, unknown>;
      return {
        status: response.status,
        strict: body.strict === true,
        leaks: JSON.stringify(body).includes(server.dataDir),
      };
    };
    for (const query of ["?strict", "?strict=1", "?strict=true", "?x=1&strict"])
      expect(await probe(query)).toEqual({ status: 200, strict: true, leaks: false });
    for (const query of [
      "?strict=0",
      "?strict=%ZZ",
      "?%ZZ",
      `?${"strict&".repeat(2000)}`,
      "?strict=\u0000",
      "??",
      "?=&=&",
    ]) {
      expect((await probe(query)).leaks).toBe(false);
    }
    expect((await probe("?strict=%ZZ")).strict).toBe(false);
    expect((await probe("?strict=0")).strict).toBe(false);
    expect((await fetch(`http://${server.httpAddress}/healthz`)).status).toBe(200);
  });
});

describe("authorization, deny by default", () => {
  let bed: VaultTestBed;
  let server: TestServer;
  const reader = token();
  const openaiOnly = token();
  const teamA = token();
  const nothing = token();

  beforeAll(async () => {
    bed = await startVaultTestBed();
    server = await start({
      config: {
        general_settings: {
          key_management_system: "hashicorp_vault",
          key_management_settings: { access_mode: "read_and_write" },
        },
        secretgate: {
          auth: {
            tokens: [
              { name: "reader", token: "os.environ/READER_TOKEN", rules: { read: ["*"] } },
              { name: "openai-only", token_sha256: hash("sha256", openaiOnly), rules: { read: ["OPENAI_*"] } },
              {
                name: "team-a-proxy",
                token: "os.environ/TEAM_A_TOKEN",
                rules: { read: ["*"], write: ["*"], delete: ["*"], teams: ["team-a"], admin: true },
              },
              { name: "nothing", token: "os.environ/NOTHING_TOKEN" },
            ],
          },
        },
      },
      env: {
        ...bed.env("token"),
        HCP_VAULT_REFRESH_INTERVAL: "0",
        READER_TOKEN: reader,
        TEAM_A_TOKEN: teamA,
        NOTHING_TOKEN: nothing,
      },
    });
    for (const name of ["OPENAI_API_KEY", "OPENAI_ORG", "ANTHROPIC_API_KEY"]) {
      await server.grpc.write({ name, value: `value-of-${name}-${randomBytes(6).toString("hex")}` });
    }
    await server.grpc.setTeamSettings({ teamId: "team-a", settings: { path_prefix: "team-a" } });
    await server.grpc.setTeamSettings({ teamId: "team-b", settings: { path_prefix: "team-b" } });
  });
  afterAll(async () => {
    await bed?.close();
  });

  it("lets a read-only token read but not write or delete", async () => {
    const client = server.client(reader);
    expect((await client.read({ names: ["ANTHROPIC_API_KEY"] })).results[0]).toMatchObject({ found: true });
    const write = await callFailure(client.write({ name: "ANTHROPIC_API_KEY", value: "sk-not-allowed-1" }));
    expect(write).toMatchObject({ code: Code.PermissionDenied });
    expect(write.message).toContain("reader may not write");
    expect((await callFailure(client.delete({ name: "ANTHROPIC_API_KEY" }))).code).toBe(Code.PermissionDenied);
    expect((await callFailure(client.setTeamSettings({ teamId: "team-a", settings: {} }))).code).toBe(
      Code.PermissionDenied,
    );
  });

  it("filters a batch per item before any back-end call: denied names are never fetched", async () => {
    await fetch(`${bed.emulator.endpoint}/_emulator/calls/reset`, { method: "POST" });
    const { results } = await server
      .client(openaiOnly)
      .read({ names: ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_ORG"] });
    expect(results[0]).toMatchObject({ found: true, source: "hashicorp_vault" });
    expect(results[1]).toMatchObject({ found: false, value: "", error: { status: "PERMISSION_DENIED" } });
    expect(results[2]).toMatchObject({ found: true });
    const calls = (await (await fetch(`${bed.emulator.endpoint}/_emulator/calls`)).json()) as Record<string, number>;
    expect(calls["kv-read"]).toBe(2);
    const listed = await server.client(openaiOnly).listHosted({});
    expect(listed.keys.every((key) => key.name.startsWith("OPENAI_"))).toBe(true);
  });

  it("never hands out the back end's own credentials from its environment: they are not hosted here", async () => {
    const { results } = await server.grpc.read({ names: ["HCP_VAULT_TOKEN", "os.environ/HCP_VAULT_ADDR"] });
    for (const result of results) {
      expect(result).toMatchObject({ found: false, value: "", error: { status: "NOT_FOUND", reason: "NOT_HOSTED" } });
      expect(result.error!.message).toContain("not hosted here: read it from your own environment");
    }
  });

  it("never hands a caller allowed to read everything the other callers' tokens the config references", async () => {
    const { results } = await server
      .client(reader)
      .read({ names: ["TEAM_A_TOKEN", "os.environ/NOTHING_TOKEN", "READER_TOKEN"] });
    for (const result of results) {
      expect(result, result.name).toMatchObject({
        found: false,
        value: "",
        error: { status: "NOT_FOUND", reason: "NOT_IN_BACKEND" },
      });
    }
  });

  it("gives a token with no rules nothing", async () => {
    const { results } = await server.client(nothing).read({ names: ["OPENAI_API_KEY"] });
    expect(results[0]!.error?.status).toBe("PERMISSION_DENIED");
  });

  it("confines a team-bound token to its team", async () => {
    const client = server.client(teamA);
    const value = `sk-team-a-${randomBytes(8).toString("hex")}`;
    expect(await client.write({ name: "k1", value, teamId: "team-a" })).toMatchObject({ name: "k1" });
    const stored = await fetch(`${bed.emulator.endpoint}/v1/secret/data/team-a/k1`, {
      headers: { "x-vault-token": bed.emulator.rootToken },
    });
    expect(stored.status).toBe(200);

    const noTeam = await callFailure(client.write({ name: "k1", value }));
    expect(noTeam).toMatchObject({ code: Code.PermissionDenied });
    expect(noTeam.message).toContain("team_id");
    expect((await callFailure(client.write({ name: "k1", value, teamId: "team-b" }))).code).toBe(Code.PermissionDenied);
    expect((await callFailure(client.read({ names: ["k1"], teamId: "team-b" }))).code).toBe(Code.PermissionDenied);
    expect(
      (await callFailure(client.setTeamSettings({ teamId: "team-b", settings: { path_prefix: "stolen" } }))).code,
    ).toBe(Code.PermissionDenied);
    expect(await client.setTeamSettings({ teamId: "team-a", settings: { path_prefix: "team-a" } })).toMatchObject({
      configured: true,
    });
    expect((await server.grpc.getTeamSettings({ teamId: "team-b" })).settings).toEqual({ path_prefix: "team-b" });
  });
});

describe("first start without configured authentication", () => {
  it("prints a generated admin token once; it works, and only its hash is stored", async () => {
    const first = await start({ adminToken: null });
    const printed =
      /\n\s+(sgt_[A-Za-z0-9_-]+)\n/.exec(`${first.stderrLines.join("\n")}\n`) ??
      /(sgt_[A-Za-z0-9_-]+)/.exec(first.stderrLines.join("\n"));
    expect(printed).not.toBeNull();
    const adminToken = printed![1]!;
    // Printing it on stderr is the point; the scan below checks stdout (logs and audit) instead.
    const value = `sk-first-start-${randomBytes(6).toString("hex")}`;
    await first.client(adminToken).write({ name: "FIRST", value });
    expect((await callFailure(first.client(undefined).read({ names: ["FIRST"] }))).code).toBe(Code.Unauthenticated);
    expect(readFileSync(join(first.dataDir, "admin-token.sha256"), "utf8").trim()).toBe(hash("sha256", adminToken));
    expect(first.logLines.join("\n")).not.toContain(adminToken);
    first.sensitive.delete(adminToken);
    await first.stop();

    const second = await start({ adminToken: null, dataDir: first.dataDir });
    expect(second.stderrLines.join("\n")).not.toContain("sgt_");
    expect((await second.client(adminToken).read({ names: ["FIRST"] })).results[0]).toMatchObject({ value });
    expect(second.allOutput()).not.toContain(adminToken);
  });

  it("refuses to listen on a non-loopback address without authentication", async () => {
    const failure = await TestServer.startExpectingFailure({
      adminToken: null,
      env: { SECRETGATE_HTTP_ADDR: "0.0.0.0:0" },
    });
    expect(failure.code).toBe(2);
    expect(failure.stderr).toContain("secretgate.http_address");
    expect(failure.stderr).toContain("--insecure-no-auth");
  });

  it("serves everyone with --insecure-no-auth, and says so", async () => {
    const server = await start({ adminToken: null, args: ["--insecure-no-auth"] });
    await server.client(undefined).write({ name: "OPEN", value: "sk-open-to-all-1" });
    expect(server.logLines.join("\n")).toContain("authentication is off");
  });
});

describe("audit records", () => {
  it("records every RPC with identity, names, outcome, cache use and version — cache hits included, values never", async () => {
    const server = await start({});
    await server.grpc.write({ name: "AUDITED", value: "sk-audited-value-1" });
    await server.grpc.read({ names: ["AUDITED"] });
    await server.grpc.read({ names: ["AUDITED", "MISSING_ONE"] });
    await callFailure(server.client(token()).read({ names: ["AUDITED"] }));
    await new Promise((resolve) => setTimeout(resolve, 400)); // the log buffer flushes every 200 ms
    const records = server.logLines
      .map((line) => JSON.parse(line) as Record<string, any>)
      .filter((record) => record.audit === true);
    const reads = records.filter((record) => record.method === "Read");
    expect(reads).toHaveLength(3);
    expect(reads[0]).toMatchObject({
      identity: "admin",
      outcome: "OK",
      items: [{ name: "AUDITED", outcome: "OK", fromCache: false, version: "1" }],
    });
    expect(reads[1]).toMatchObject({
      identity: "admin",
      items: [
        { name: "AUDITED", outcome: "OK", fromCache: true, version: "1", source: "local" },
        { name: "MISSING_ONE", outcome: "NOT_FOUND" },
      ],
    });
    expect(reads[1]!.peer).toMatch(/127\.0\.0\.1/);
    expect(reads[2]).toMatchObject({ identity: null, outcome: "UNAUTHENTICATED", names: ["AUDITED"] });
    expect(records.find((record) => record.method === "Write")).toMatchObject({
      identity: "admin",
      name: "AUDITED",
      version: "1",
      outcome: "OK",
    });
  });

  it("writes audit records to a file when configured", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "secretgate-audit-")), "audit.log");
    const server = await start({ config: { secretgate: { audit: { file } } } });
    await server.grpc.read({ names: ["SOMETHING"] });
    await server.stop();
    const records = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.some((record) => record.method === "Read" && record.identity === "admin")).toBe(true);
    expect(server.logLines.some((line) => line.includes('"audit":true'))).toBe(false);
  });
});

describe("TLS and mutual TLS", () => {
  const ca = new TestCa("secretgate-test-ca");
  const otherCa = new TestCa("someone-else");
  let server: TestServer;
  let certFile: string;
  let keyFile: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "secretgate-tls-"));
    const serverCert = ca.server();
    certFile = join(dir, "server.crt");
    keyFile = join(dir, "server.key");
    copyFileSync(serverCert.certFile, certFile);
    copyFileSync(serverCert.keyFile, keyFile);
    server = await start({
      config: {
        secretgate: {
          tls: { cert_file: certFile, key_file: keyFile, client_ca_file: ca.root.certFile },
          auth: { mtls_identities: [{ name: "proxy-eu", cn: "proxy-eu", rules: { read: ["*"] } }] },
        },
      },
    });
  });

  const grpcClient = (client?: { cert: string; key: string }, bearer?: string) =>
    createClient(
      SecretService,
      createGrpcTransport({
        baseUrl: `https://${server.grpcAddress}`,
        nodeOptions: { ca: ca.root.cert, ...(client ?? {}) },
        ...(bearer
          ? {
              interceptors: [
                (next) => (request) => {
                  request.header.set("authorization", `Bearer ${bearer}`);
                  return next(request);
                },
              ],
            }
          : {}),
      }),
    );

  it("maps a client certificate from the configured CA to its identity, on both listeners", async () => {
    const cert = ca.client("proxy-eu");
    const { results } = await grpcClient(cert).read({ names: ["ANY_NAME"] });
    expect(results[0]!.error?.status).toBe("NOT_FOUND");
    const connect = createClient(
      SecretService,
      createConnectTransport({
        baseUrl: `https://${server.httpAddress}`,
        httpVersion: "1.1",
        nodeOptions: { ca: ca.root.cert, cert: cert.cert, key: cert.key },
      }),
    );
    expect((await connect.read({ names: ["ANY_NAME"] })).results[0]!.error?.status).toBe("NOT_FOUND");
    // The identity has read rules only.
    expect((await callFailure(grpcClient(cert).write({ name: "X", value: "sk-mtls-write-1" }))).code).toBe(
      Code.PermissionDenied,
    );
  });

  it("refuses a certificate from another CA, and one with an unknown subject", async () => {
    expect((await callFailure(grpcClient(otherCa.client("proxy-eu")).read({ names: ["ANY_NAME"] }))).code).toBe(
      Code.Unauthenticated,
    );
    expect((await callFailure(grpcClient(ca.client("stranger")).read({ names: ["ANY_NAME"] }))).code).toBe(
      Code.Unauthenticated,
    );
  });

  it("still accepts bearer tokens over TLS without a client certificate", async () => {
    expect((await grpcClient(undefined, server.token).read({ names: ["ANY_NAME"] })).results).toHaveLength(1);
  });

  it("reloads the certificate on SIGHUP without dropping open connections", async () => {
    const serial = () =>
      new Promise<string>((resolve, reject) => {
        const { host, port } = { host: "127.0.0.1", port: Number(server.httpAddress.split(":")[1]) };
        const socket = tlsConnect({ host, port, ca: ca.root.cert, servername: "localhost" }, () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.end();
        });
        socket.once("error", reject);
      });
    const open = grpcClient(undefined, server.token);
    await open.read({ names: ["BEFORE"] });
    const before = await serial();
    const renewed = ca.server();
    copyFileSync(renewed.certFile, certFile);
    copyFileSync(renewed.keyFile, keyFile);
    server.process.kill("SIGHUP");
    let after = before;
    for (let i = 0; i < 100 && after === before; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = await serial();
    }
    expect(after).not.toBe(before);
    expect((await open.read({ names: ["AFTER"] })).results).toHaveLength(1);
  });
});
