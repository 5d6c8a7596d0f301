import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, type ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AzureKeyVaultEmulator, sdkEnvironment, startEmulator } from "../emulators/azure-key-vault/index.js";
import { connectFailure } from "../helpers/call-failure.js";
import { TestServer } from "../helpers/server.js";

const config = {
  general_settings: {
    key_management_system: "azure_key_vault",
    key_management_settings: { access_mode: "read_and_write", store_virtual_keys: true },
  },
};

describe("azure_key_vault through the server", () => {
  let vault: AzureKeyVaultEmulator;
  let otherVault: AzureKeyVaultEmulator;
  let server: TestServer;

  beforeAll(async () => {
    vault = await startEmulator({ host: "127.0.0.1", port: 0 });
    otherVault = await startEmulator({ host: "127.0.0.1", port: 0, sameTenantAs: vault });
    // A team's vault_uri may name the second emulator only because the back end's own settings allow its host.
    const settings = {
      ...config.general_settings.key_management_settings,
      allowed_vault_hosts: [new URL(otherVault.endpoint).host],
    };
    server = await TestServer.start({
      config: { general_settings: { ...config.general_settings, key_management_settings: settings } },
      env: sdkEnvironment(vault),
    });
  });
  afterAll(async () => {
    await server?.stop();
    await otherVault?.close();
    await vault?.close();
  });

  it("reads AZURE_API_KEY as stored under AZURE-API-KEY, through the SDK's challenge and a client-secret token", async () => {
    vault.store.set("AZURE-API-KEY", { value: "sk-azure-from-portal" });
    const { results } = await server.grpc.read({ names: ["os.environ/AZURE_API_KEY"] });
    expect(results[0]).toMatchObject({
      name: "AZURE_API_KEY",
      found: true,
      value: "sk-azure-from-portal",
      source: "azure_key_vault",
    });
    const calls = vault.faults.calls();
    expect(calls.Challenge).toBeGreaterThanOrEqual(1);
    expect(calls.Token).toBeGreaterThanOrEqual(1);
  });

  it("refuses a write whose mapped name belongs to another name, naming both", async () => {
    await server.grpc.write({ name: "billing_key", value: "first" });
    const error = await connectFailure(server.grpc.write({ name: "billing-key", value: "second" }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain('"billing-key"');
    expect(error.rawMessage).toContain('"billing_key"');
    expect(vault.store.get("billing-key").version.value).toBe("first");
  });

  it("refuses names Key Vault cannot hold before calling it", async () => {
    vault.faults.resetCalls();
    const error = await connectFailure(server.grpc.write({ name: "key.with.dots", value: "x" }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(vault.faults.calls().SetSecret).toBeUndefined();
  });

  it("re-creates a soft-deleted name by recovering it (no 409 for the caller)", async () => {
    await server.grpc.write({ name: "rotating_key", value: "v1" });
    const deleted = await server.grpc.delete({ name: "rotating_key" });
    expect(deleted.recoverable).toBe(true);
    expect(vault.store.getDeleted("rotating-key")).toBeDefined();
    const missing = await server.grpc.read({ names: ["rotating_key"] });
    expect(missing.results[0]?.found).toBe(false);

    await server.grpc.write({ name: "rotating_key", value: "v2" });
    const { results } = await server.grpc.read({ names: ["rotating_key"] });
    expect(results[0]).toMatchObject({ found: true, value: "v2" });
    // Recovered, so the old version history came back with it.
    expect(vault.store.versions("rotating-key")).toHaveLength(2);
    expect(vault.faults.calls().RecoverDeletedSecret).toBe(1);
  });

  it("with force, purges so the name is re-created fresh at once", async () => {
    await server.grpc.write({ name: "purged_key", value: "v1" });
    const deleted = await server.grpc.delete({ name: "purged_key", force: true });
    expect(deleted.recoverable).toBe(false);
    expect(() => vault.store.getDeleted("purged-key")).toThrow();

    await server.grpc.write({ name: "purged_key", value: "v2" });
    expect(vault.store.versions("purged-key")).toHaveLength(1);
    const { results } = await server.grpc.read({ names: ["purged_key"] });
    expect(results[0]).toMatchObject({ found: true, value: "v2" });
  });

  it("answers a Read of a disabled secret with FAILED_PRECONDITION naming it, and a Write adds an enabled version", async () => {
    await server.grpc.write({ name: "paused_key", value: "sk-paused-before" });
    vault.store.update("paused-key", undefined, { enabled: false });
    const refused = await server.grpc.read({ names: ["paused_key"] });
    expect(refused.results[0]).toMatchObject({ found: false, error: { status: "FAILED_PRECONDITION" } });
    expect(refused.results[0]?.error?.message).toContain("disabled");

    const written = await server.grpc.write({ name: "paused_key", value: "sk-paused-after" });
    expect(vault.store.get("paused-key").version).toMatchObject({ enabled: true, value: "sk-paused-after" });
    const { results } = await server.grpc.read({ names: ["paused_key"] });
    expect(results[0]).toMatchObject({ found: true, value: "sk-paused-after", version: written.version });
  });

  it("routes a team to its own vault_uri", async () => {
    await server.grpc.setTeamSettings({
      teamId: "team-eu",
      settings: { vault_uri: otherVault.endpoint, prefix: "eu/" },
    });
    await server.grpc.write({ name: "team-secret", value: "eu-only", teamId: "team-eu", virtualKey: true });
    expect(otherVault.store.get("eu-team-secret").version.value).toBe("eu-only");
    expect(() => vault.store.get("eu-team-secret")).toThrow();
    const { results } = await server.grpc.read({ names: ["team-secret"], teamId: "team-eu", virtualKey: true });
    expect(results[0]).toMatchObject({ found: true, value: "eu-only" });
  });

  it("routes a call that sends vault_uri in its team_settings to that vault, like a stored team", async () => {
    const teamSettings = { vault_uri: otherVault.endpoint, prefix: "inline/" };
    await server.grpc.write({ name: "inline-secret", value: "inline-only", virtualKey: true, teamSettings });
    expect(otherVault.store.get("inline-inline-secret").version.value).toBe("inline-only");
    expect(() => vault.store.get("inline-inline-secret")).toThrow();
    const { results } = await server.grpc.read({ names: ["inline-secret"], virtualKey: true, teamSettings });
    expect(results[0]).toMatchObject({ found: true, value: "inline-only", resolvedName: "inline/inline-secret" });
    await server.grpc.delete({ name: "inline-secret", virtualKey: true, force: true, teamSettings });
    expect(() => otherVault.store.get("inline-inline-secret")).toThrow();
    const insecure = await server.grpc
      .write({ name: "x", value: "y", teamSettings: { vault_uri: "http://127.0.0.1:1" } })
      .catch((failure: unknown) => failure as ConnectError);
    expect(insecure).toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringContaining("team_settings.vault_uri"),
    });
  });

  it("honours Retry-After, then reports persistent throttling as RESOURCE_EXHAUSTED after a bounded number of calls", async () => {
    vault.store.set("THROTTLED-KEY", { value: "x" });
    vault.faults.resetCalls();
    vault.faults.set([{ operation: "GetSecret", kind: "throttle", retryAfterSeconds: 0 }]);
    try {
      const { results } = await server.grpc.read({ names: ["THROTTLED_KEY"] });
      expect(results[0]?.error?.status).toBe("RESOURCE_EXHAUSTED");
      expect(vault.faults.calls().GetSecret).toBe(4);
    } finally {
      vault.faults.clear();
    }
    vault.faults.set([{ operation: "GetSecret", kind: "throttle", retryAfterSeconds: 0, times: 2 }]);
    const { results } = await server.grpc.read({ names: ["THROTTLED_KEY"] });
    expect(results[0]).toMatchObject({ found: true, value: "x" });
  });

  it("refuses to start without AZURE_KEY_VAULT_URI, naming it, and leaves a fresh data directory as it found it", async () => {
    const { AZURE_KEY_VAULT_URI: _omitted, ...env } = sdkEnvironment(vault);
    const dataDir = mkdtempSync(join(tmpdir(), "secretgate-refused-"));
    const { code, stderr } = await TestServer.startExpectingFailure({ config, env, dataDir, adminToken: null });
    expect(code).toBe(2);
    expect(stderr).toContain("AZURE_KEY_VAULT_URI");
    // No master key, database or admin token survives the refused start: the next start may bring its own key.
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it("refuses a vault URI that is not a URL with exit code 2, naming the variable, without a stack trace", async () => {
    const { code, stderr } = await TestServer.startExpectingFailure({
      config,
      env: { ...sdkEnvironment(vault), AZURE_KEY_VAULT_URI: "not a url" },
    });
    expect(code).toBe(2);
    expect(stderr).toContain("AZURE_KEY_VAULT_URI is not a URL");
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
