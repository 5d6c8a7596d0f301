import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectFailure } from "../helpers/call-failure.js";
import { stopServer, TestServer } from "../helpers/server.js";
import { type AuthMethodName, startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";

const READ_WRITE = {
  general_settings: {
    key_management_system: "hashicorp_vault",
    key_management_settings: { access_mode: "read_and_write" },
  },
};
// Every read goes to Vault, so call counts and token behaviour are what the test sees.
const NO_CACHE = { HCP_VAULT_REFRESH_INTERVAL: "0" };

async function startServer(
  bed: VaultTestBed,
  method: AuthMethodName,
  extra: Record<string, string> = {},
): Promise<TestServer> {
  return TestServer.start({ config: READ_WRITE, env: { ...bed.env(method), ...NO_CACHE, ...extra } });
}

/** The emulator's admin endpoint, as a sandbox user would drive it. */
async function admin(bed: VaultTestBed, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${bed.emulator.endpoint}/_emulator/${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
  });
  expect(response.status).toBe(200);
  return response.json();
}

/** Reads a KV v2 secret straight from the emulator with the root token. */
async function vaultGet(bed: VaultTestBed, path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${bed.emulator.endpoint}/v1/${path}`, {
    headers: { "x-vault-token": bed.emulator.rootToken },
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? undefined : JSON.parse(text) };
}

const readOne = async (server: TestServer, name: string, teamId = "") => {
  const { results } = await server.grpc.read({ names: [name], teamId, bypassCache: true });
  return results[0]!;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("hashicorp_vault end to end: AppRole token lifecycle", () => {
  let bed: VaultTestBed;
  let server: TestServer;

  beforeAll(async () => {
    // Tokens live 2 s and at most 5 s: a few seconds of traffic cross renewals and a max-TTL re-login.
    bed = await startVaultTestBed({ role: { ttlSeconds: 2, maxTtlSeconds: 5 } });
    server = await startServer(bed, "approle");
  });
  afterAll(async () => {
    await stopServer(server);
    await bed?.close();
  });

  it("renews before expiry and logs in again at max TTL, invisibly to callers", async () => {
    await server.grpc.write({ name: "lifecycle", value: "sk-lifecycle" });
    await admin(bed, "POST", "calls/reset");
    const deadline = Date.now() + 5_500;
    let reads = 0;
    while (Date.now() < deadline) {
      const result = await readOne(server, "lifecycle");
      expect(result).toMatchObject({ found: true, value: "sk-lifecycle" });
      reads += 1;
      await sleep(100);
    }
    const calls = await admin(bed, "GET", "calls");
    expect(calls["kv-read"]).toBe(reads);
    expect(calls["renew-self"]).toBeGreaterThanOrEqual(2);
    // Max TTL (5 s) was reached: a fresh login replaced the token before it died…
    expect(calls.login).toBeGreaterThanOrEqual(1);
    // …so no call was ever refused for an expired token.
    expect(calls["lookup-self"]).toBeUndefined();
  });

  it("logs in again when Vault refuses to renew", async () => {
    await admin(bed, "PUT", "tokens", { renewalRefused: true });
    await admin(bed, "POST", "calls/reset");
    const deadline = Date.now() + 2_500;
    while (Date.now() < deadline) {
      expect(await readOne(server, "lifecycle")).toMatchObject({ found: true, value: "sk-lifecycle" });
      await sleep(100);
    }
    const calls = await admin(bed, "GET", "calls");
    expect(calls["renew-self"]).toBeGreaterThanOrEqual(1);
    expect(calls.login).toBeGreaterThanOrEqual(calls["renew-self"]);
    expect(calls["lookup-self"]).toBeUndefined();
    await admin(bed, "PUT", "tokens", { renewalRefused: false });
  });
});

describe("hashicorp_vault end to end", () => {
  let bed: VaultTestBed;
  let server: TestServer;

  beforeAll(async () => {
    bed = await startVaultTestBed({
      policies: ["secretgate", "teams"],
      config: {
        namespaces: ["teamspace"],
        kvMounts: [{ mount: "kv-teams" }, { namespace: "teamspace", mount: "kv-teams" }],
        policies: {
          teams: [
            { path: "teamspace/kv-teams/*", capabilities: ["create", "read", "update", "delete", "list"] },
            { path: "secret/data/forbidden/*", capabilities: ["deny"] },
          ],
        },
      },
    });
    server = await startServer(bed, "approle");
    await server.grpc.write({ name: "warm-up", value: "x" });
  });
  afterAll(async () => {
    await stopServer(server);
    await bed?.close();
  });

  it("logs in once more and retries when the token was revoked behind its back", async () => {
    await server.grpc.write({ name: "revoked", value: "sk-revoked" });
    await admin(bed, "PUT", "tokens", { revokeAll: true });
    await admin(bed, "POST", "calls/reset");
    expect(await readOne(server, "revoked")).toMatchObject({ found: true, value: "sk-revoked" });
    expect(await admin(bed, "GET", "calls")).toEqual({ "kv-read": 2, "lookup-self": 1, login: 1 });
  });

  it("routes a team's writes, reads and deletes by its namespace, mount, path_prefix and data field", async () => {
    await server.grpc.setTeamSettings({
      teamId: "alpha",
      settings: { namespace: "teamspace", mount: "kv-teams", path_prefix: "alpha/llm", data: "api_key" },
    });
    await server.grpc.write({ name: "OPENAI_API_KEY", value: "sk-alpha", teamId: "alpha" });
    await server.grpc.write({ name: "OPENAI_API_KEY", value: "sk-default" });

    expect(await readOne(server, "OPENAI_API_KEY", "alpha")).toMatchObject({ found: true, value: "sk-alpha" });
    expect(await readOne(server, "OPENAI_API_KEY")).toMatchObject({ found: true, value: "sk-default" });
    const stored = await vaultGet(bed, "teamspace/kv-teams/data/alpha/llm/OPENAI_API_KEY");
    expect(stored.body.data.data).toEqual({ api_key: "sk-alpha" });
    expect((await vaultGet(bed, "secret/data/OPENAI_API_KEY")).body.data.data).toEqual({ key: "sk-default" });

    const deleted = await server.grpc.delete({ name: "OPENAI_API_KEY", teamId: "alpha" });
    expect(deleted.recoverable).toBe(true);
    expect((await vaultGet(bed, "teamspace/kv-teams/data/alpha/llm/OPENAI_API_KEY")).status).toBe(404);
    expect((await vaultGet(bed, "teamspace/kv-teams/metadata/alpha/llm/OPENAI_API_KEY")).status).toBe(200);
    expect(await readOne(server, "OPENAI_API_KEY")).toMatchObject({ found: true, value: "sk-default" });
  });

  it("ListHosted lists what the mount holds, nested names included and soft-deleted ones not, and a team's path on its own", async () => {
    await server.grpc.write({ name: "listed/nested/key", value: "sk-nested" });
    await server.grpc.write({ name: "listed-then-deleted", value: "sk-gone" });
    await server.grpc.delete({ name: "listed-then-deleted" });
    const { keys } = await server.grpc.listHosted({});
    expect(keys.find((key) => key.name === "listed/nested/key")).toMatchObject({
      resolves: true,
      source: "hashicorp_vault",
      version: "1",
    });
    expect(keys.map((key) => key.name)).not.toContain("listed-then-deleted");

    await server.grpc.setTeamSettings({
      teamId: "lister",
      settings: { namespace: "teamspace", mount: "kv-teams", path_prefix: "lister" },
    });
    await server.grpc.write({ name: "team/key", value: "sk-team", teamId: "lister" });
    const team = await server.grpc.listHosted({ teamId: "lister" });
    expect(team.keys.map((key) => [key.name, key.resolves])).toEqual([["team/key", true]]);
  });

  it("refuses team settings Vault does not have", async () => {
    const error = await connectFailure(
      server.grpc.setTeamSettings({ teamId: "beta", settings: { prefix: "team-beta/" } }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    const traversal = await connectFailure(
      server.grpc.setTeamSettings({ teamId: "beta", settings: { path_prefix: "../other-team" } }),
    );
    expect(traversal.code).toBe(Code.InvalidArgument);
  });

  it("force delete removes every version and the metadata", async () => {
    await server.grpc.write({ name: "purged", value: "v1" });
    await server.grpc.write({ name: "purged", value: "v2" });
    expect(await server.grpc.delete({ name: "purged", force: true })).toMatchObject({ recoverable: false });
    expect((await vaultGet(bed, "secret/metadata/purged")).status).toBe(404);
  });

  it("answers PERMISSION_DENIED for a path the token's policy forbids, without logging in again", async () => {
    await admin(bed, "POST", "calls/reset");
    const error = await connectFailure(server.grpc.write({ name: "forbidden/key", value: "nope" }));
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.rawMessage).toContain("forbidden/key");
    expect(await readOne(server, "forbidden/key")).toMatchObject({
      found: false,
      error: { status: "PERMISSION_DENIED" },
    });
    const calls = await admin(bed, "GET", "calls");
    expect(calls.login).toBeUndefined();
  });

  it("answers UNAVAILABLE before the deadline when Vault is sealed, after a bounded number of tries", async () => {
    await admin(bed, "PUT", "seal", { sealed: true });
    await admin(bed, "POST", "calls/reset");
    try {
      const error = await connectFailure(server.grpc.write({ name: "sealed", value: "x" }, { timeoutMs: 5_000 }));
      expect(error.code).toBe(Code.Unavailable);
      expect(error.rawMessage).toContain("Vault is sealed");
      expect((await admin(bed, "GET", "calls"))["kv-write"]).toBe(3);
    } finally {
      await admin(bed, "PUT", "seal", { sealed: false });
    }
  });

  it("ends a throttling storm in RESOURCE_EXHAUSTED and retries a stale standby read (412)", async () => {
    await admin(bed, "PUT", "faults", { rules: [{ operation: "kv-write", kind: "throttle", retryAfterSeconds: 0 }] });
    await admin(bed, "POST", "calls/reset");
    try {
      const error = await connectFailure(server.grpc.write({ name: "throttled", value: "x" }));
      expect(error.code).toBe(Code.ResourceExhausted);
      expect((await admin(bed, "GET", "calls"))["kv-write"]).toBe(3);
    } finally {
      await admin(bed, "DELETE", "faults");
    }
    await admin(bed, "PUT", "faults", { rules: [{ operation: "kv-read", kind: "error", status: 412, times: 1 }] });
    await admin(bed, "POST", "calls/reset");
    expect(await readOne(server, "warm-up")).toMatchObject({ found: true, value: "x" });
    expect((await admin(bed, "GET", "calls"))["kv-read"]).toBe(2);
  });

  it("refuses unsafe names before any call reaches Vault", async () => {
    await admin(bed, "POST", "calls/reset");
    const unsafe = ["a/../b", "../escape", "tab\u0009name", "line\u2028sep", "para\u2029sep", "next\u0085line"];
    for (const name of unsafe) {
      expect((await connectFailure(server.grpc.write({ name, value: "x" }))).code).toBe(Code.InvalidArgument);
      expect((await connectFailure(server.grpc.delete({ name }))).code).toBe(Code.InvalidArgument);
      expect(await readOne(server, name)).toMatchObject({ found: false, error: { status: "INVALID_ARGUMENT" } });
    }
    expect(await admin(bed, "GET", "calls")).toEqual({});
  });

  it("never logs a secret value or a credential (the server logs at debug level here)", () => {
    const output = server.allOutput();
    expect(output).toContain("logged in to Vault");
    for (const secret of ["sk-alpha", "sk-default", "sk-revoked", bed.approle.secretId, bed.approle.roleId, "hvs."]) {
      expect(output).not.toContain(secret);
    }
  });
});

describe("hashicorp_vault end to end: start-up", () => {
  it("refuses to start without Vault credentials and names the variables", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "secretgate-data-"));
    const { code, stderr } = await TestServer.startExpectingFailure({
      config: READ_WRITE,
      dataDir,
      env: { HCP_VAULT_ADDR: "http://127.0.0.1:1" },
    });
    rmSync(dataDir, { recursive: true, force: true });
    expect(code).toBe(2);
    expect(stderr).toContain("HCP_VAULT_APPROLE_ROLE_ID");
    expect(stderr).toContain("HCP_VAULT_TOKEN");
  });
});

describe("hashicorp_vault end to end: login and secret namespaces", () => {
  let bed: VaultTestBed;
  let server: TestServer;

  beforeAll(async () => {
    // The AppRole lives in namespace `admin`; the secrets in its child `admin/team-a`.
    bed = await startVaultTestBed({
      policies: ["team-a"],
      role: { namespace: "admin" },
      config: {
        namespaces: ["admin/team-a"],
        policies: { "team-a": [{ path: "team-a/secret/*", capabilities: ["create", "read", "update", "delete"] }] },
      },
    });
    server = await startServer(bed, "approle", {
      HCP_VAULT_LOGIN_NAMESPACE: "admin",
      HCP_VAULT_SECRET_NAMESPACE: "admin/team-a",
    });
  });
  afterAll(async () => {
    await stopServer(server);
    await bed?.close();
  });

  it("logs in with the login namespace header and stores under the secret namespace", async () => {
    const written = await server.grpc.write({ name: "namespaced", value: "sk-team-a" });
    expect(written.version).toBe("1");
    expect(await readOne(server, "namespaced")).toMatchObject({ found: true, value: "sk-team-a", version: "1" });
    expect((await vaultGet(bed, "admin/team-a/secret/data/namespaced")).body.data.data).toEqual({ key: "sk-team-a" });
    expect((await vaultGet(bed, "secret/data/namespaced")).status).toBe(404);
    expect((await vaultGet(bed, "admin/secret/data/namespaced")).status).toBe(404);
  });

  it("fails to log in when the login namespace is not sent (the role exists only in `admin`)", async () => {
    const other = await startServer(bed, "approle", { HCP_VAULT_SECRET_NAMESPACE: "admin/team-a" });
    try {
      const error = await connectFailure(other.grpc.write({ name: "namespaced", value: "x" }));
      expect(error.code).toBe(Code.PermissionDenied);
      expect(error.rawMessage).toContain("AppRole");
    } finally {
      await stopServer(other);
    }
  });
});
