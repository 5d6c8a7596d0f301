import { Code, type ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConjurEmulator, startEmulator } from "../emulators/cyberark/index.js";
import { TestServer } from "../helpers/server.js";

const config = {
  general_settings: {
    key_management_system: "cyberark",
    key_management_settings: { access_mode: "read_and_write", policy_branch: "secretgate" },
  },
};

function conjurEnv(conjur: ConjurEmulator): Record<string, string> {
  const login = conjur.logins[0]!;
  return {
    CYBERARK_API_BASE: conjur.endpoint,
    CYBERARK_ACCOUNT: login.account,
    CYBERARK_USERNAME: login.login,
    CYBERARK_API_KEY: login.apiKey,
    NODE_EXTRA_CA_CERTS: conjur.caFile!,
  };
}

describe("cyberark through the server", () => {
  let conjur: ConjurEmulator;
  let server: TestServer;

  beforeAll(async () => {
    conjur = await startEmulator({ host: "127.0.0.1", port: 0, tls: true });
    server = await TestServer.start({ config, env: conjurEnv(conjur) });
  });
  afterAll(async () => {
    await server?.stop();
    await conjur?.close();
  });

  it("declares the variable by policy, stores the value, and deletes it so a later read is not found", async () => {
    const written = await server.grpc.write({ name: "openai_key", value: "sk-conjur-1" });
    expect(written.version).toBe("1");
    const login = conjur.logins[0]!;
    expect(conjur.store.value("default", login, "secretgate/openai_key").toString()).toBe("sk-conjur-1");

    const deleted = await server.grpc.delete({ name: "openai_key" });
    expect(deleted.recoverable).toBe(false);
    const { results } = await server.grpc.read({ names: ["openai_key"] });
    expect(results[0]).toMatchObject({ found: false });
    expect(results[0]?.error?.status).toBe("NOT_FOUND");
    expect(() => conjur.store.value("default", login, "secretgate/openai_key")).toThrow(/not found/);
  });

  it("hides a token expiring mid-run: the 401 triggers one re-authentication and the call succeeds", async () => {
    await server.grpc.write({ name: "long_lived", value: "still-here" });
    conjur.faults.resetCalls();
    conjur.expireTokens();
    const { results } = await server.grpc.read({ names: ["long_lived"] });
    expect(results[0]).toMatchObject({ found: true, value: "still-here", version: "1" });
    expect(conjur.faults.calls().Authenticate).toBe(1);
  });

  it("answers a batch read with one missing id with the others found", async () => {
    await server.grpc.write({ name: "batch_a", value: "value-a" });
    await server.grpc.write({ name: "batch_b", value: "value-b" });
    const { results } = await server.grpc.read({ names: ["batch_a", "batch_missing", "batch_b"] });
    expect(results.map((result) => [result.name, result.found, result.value])).toEqual([
      ["batch_a", true, "value-a"],
      ["batch_missing", false, ""],
      ["batch_b", true, "value-b"],
    ]);
    expect(results[1]?.error?.status).toBe("NOT_FOUND");
  });

  it("routes a team to its policy branch, and reports a branch the login may not use as PERMISSION_DENIED", async () => {
    await server.grpc.setTeamSettings({ teamId: "team-b", settings: { policy_branch: "team-b" } });
    await server.grpc.write({ name: "team_key", value: "b-only", teamId: "team-b" });
    const login = conjur.logins[0]!;
    expect(conjur.store.value("default", login, "team-b/team_key").toString()).toBe("b-only");
    expect(() => conjur.store.value("default", login, "secretgate/team_key")).toThrow();

    await server.grpc.setTeamSettings({ teamId: "team-x", settings: { policy_branch: "apps/other" } });
    const error = await server.grpc.write({ name: "team_key", value: "x", teamId: "team-x" }).then(
      () => undefined,
      (failure: unknown) => failure as ConnectError,
    );
    expect(error?.code).toBe(Code.PermissionDenied);
  });

  it("ListHosted lists the branch's variables, nested ones included and deleted ones not, and a team's branch on its own", async () => {
    await server.grpc.write({ name: "listed/nested/key", value: "sk-nested" });
    await server.grpc.write({ name: "listed-then-deleted", value: "sk-gone" });
    await server.grpc.delete({ name: "listed-then-deleted" });
    const { keys } = await server.grpc.listHosted({});
    expect(keys.find((key) => key.name === "listed/nested/key")).toMatchObject({
      resolves: true,
      source: "cyberark",
      version: "1",
    });
    expect(keys.map((key) => key.name)).not.toContain("listed-then-deleted");

    await server.grpc.setTeamSettings({ teamId: "lister", settings: { policy_branch: "team-b" } });
    await server.grpc.write({ name: "team/listed", value: "sk-team", teamId: "lister" });
    const team = (await server.grpc.listHosted({ teamId: "lister" })).keys.map((key) => [key.name, key.resolves]);
    expect(team).toContainEqual(["team/listed", true]);
    expect(team.map(([name]) => name)).not.toContain("listed/nested/key");
  });

  it("routes a call that sends policy_branch in its team_settings to that branch, like a stored team", async () => {
    const teamSettings = { policy_branch: "team-b" };
    await server.grpc.write({ name: "inline_key", value: "b-inline", teamSettings });
    const login = conjur.logins[0]!;
    expect(conjur.store.value("default", login, "team-b/inline_key").toString()).toBe("b-inline");
    expect(() => conjur.store.value("default", login, "secretgate/inline_key")).toThrow();
    expect((await server.grpc.read({ names: ["inline_key"], teamSettings })).results[0]).toMatchObject({
      found: true,
      value: "b-inline",
    });
    expect((await server.grpc.read({ names: ["inline_key"] })).results[0]).toMatchObject({ found: false });
    await server.grpc.delete({ name: "inline_key", teamSettings });
    expect(() => conjur.store.value("default", login, "team-b/inline_key")).toThrow();
  });

  it("refuses unknown team keys", async () => {
    const error = await server.grpc.setTeamSettings({ teamId: "team-y", settings: { vault_uri: "https://x" } }).then(
      () => undefined,
      (failure: unknown) => failure as ConnectError,
    );
    expect(error?.code).toBe(Code.InvalidArgument);
  });

  it("with CYBERARK_SSL_VERIFY=false, skips certificate checks and warns at start-up", async () => {
    const { NODE_EXTRA_CA_CERTS: _untrusted, ...env } = conjurEnv(conjur);
    const unverified = await TestServer.start({ config, env: { ...env, CYBERARK_SSL_VERIFY: "false" } });
    try {
      expect(unverified.allOutput()).toMatch(/CYBERARK_SSL_VERIFY=false.*NOT verified/);
      await unverified.grpc.write({ name: "unverified_tls", value: "sk-unverified-tls-value" });
      const { results } = await unverified.grpc.read({ names: ["unverified_tls"] });
      expect(results[0]).toMatchObject({ found: true, value: "sk-unverified-tls-value" });
    } finally {
      await unverified.stop();
    }
  });

  it("without the CA, refuses Conjur's certificate (UNAVAILABLE, not a hang)", async () => {
    const { NODE_EXTRA_CA_CERTS: _untrusted, ...env } = conjurEnv(conjur);
    const strict = await TestServer.start({ config, env });
    try {
      const { results } = await strict.grpc.read({ names: ["any_name"] });
      expect(results[0]?.error?.status).toBe("UNAVAILABLE");
    } finally {
      await strict.stop();
    }
  });

  it("refuses a CYBERARK_API_BASE that is not a URL with exit code 2, naming the variable, without a stack trace", async () => {
    const { code, stderr } = await TestServer.startExpectingFailure({
      config,
      env: { ...conjurEnv(conjur), CYBERARK_API_BASE: "::bad" },
    });
    expect(code).toBe(2);
    expect(stderr).toContain("CYBERARK_API_BASE");
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
