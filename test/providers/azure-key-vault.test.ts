import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RestError } from "@azure/keyvault-secrets";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ServiceError } from "../../src/core/errors.js";
import { azureKeyVaultDriver } from "../../src/providers/azure-key-vault/azure-key-vault-driver.js";
import { assertOwnedBy, toVaultName } from "../../src/providers/azure-key-vault/vault-names.js";
import type { SecretDatabase } from "../../src/storage/database.js";
import { sdkEnvironment, startEmulator, type AzureKeyVaultEmulator } from "../emulators/azure-key-vault/index.js";

const context = (env: Record<string, string>) => ({
  env,
  settings: { store_virtual_keys: false, prefix_for_stored_virtual_keys: "litellm/" },
  database: undefined as unknown as SecretDatabase,
  logger: pino({ level: "silent" }),
});
const call = () => ({ team: {}, signal: AbortSignal.timeout(15_000) });

describe("Azure Key Vault names", () => {
  it.each([
    ["AZURE_API_KEY", "AZURE-API-KEY"],
    ["litellm/virtual-key-1", "litellm-virtual-key-1"],
    ["Already-Fine-9", "Already-Fine-9"],
  ])("maps %s to %s", (name, mapped) => {
    expect(toVaultName(name)).toBe(mapped);
  });

  it.each(["has.dot", "ключ", "space here", "x".repeat(128)])("refuses %s with INVALID_ARGUMENT", (name) => {
    expect(() => toVaultName(name)).toThrow(expect.objectContaining({ code: Code.InvalidArgument }));
  });

  it("refuses a write over a secret another name owns, naming both", () => {
    expect(() => assertOwnedBy("A_B", "A-B", { "secretgate-name": "A/B" })).toThrow(/"A_B".*"A\/B"/);
    expect(() => assertOwnedBy("A_B", "A-B", { "secretgate-name": "A_B" })).not.toThrow();
    expect(() => assertOwnedBy("A_B", "A-B", undefined)).not.toThrow();
  });
});

describe("Azure Key Vault driver set-up and errors", () => {
  let vault: AzureKeyVaultEmulator;
  let dir: string;

  beforeAll(async () => {
    vault = await startEmulator({ host: "127.0.0.1", port: 0 });
    dir = mkdtempSync(join(tmpdir(), "secretgate-azure-"));
  });
  afterAll(async () => {
    await vault?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("authenticates with workload identity (a federated token file)", async () => {
    const tokenFile = join(dir, "federated-token");
    const claims = { iss: "https://oidc.example/cluster", sub: "system:serviceaccount:llm:secretgate", aud: ["api://AzureADTokenExchange"] };
    writeFileSync(tokenFile, `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.c2ln`);
    vault.store.set("WORKLOAD-CHECK", { value: "via-federation" });
    const driver = await azureKeyVaultDriver.create(
      context(sdkEnvironment(vault, { AZURE_FEDERATED_TOKEN_FILE: tokenFile })),
    );
    expect(await driver.read("WORKLOAD_CHECK", call())).toMatchObject({ text: "via-federation" });
    await driver.close();
  });

  it("authenticates with a client certificate (AZURE_CERTIFICATE_PATH)", async () => {
    const keyFile = join(dir, "sp.key");
    const certFile = join(dir, "sp.crt");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=secretgate-sp"], { stdio: "ignore" });
    const combined = join(dir, "sp.pem");
    writeFileSync(combined, readFileSync(keyFile, "utf8") + readFileSync(certFile, "utf8"));
    vault.store.set("CERTIFICATE-CHECK", { value: "via-certificate" });
    const driver = await azureKeyVaultDriver.create(
      context(sdkEnvironment(vault, { AZURE_CERTIFICATE_PATH: combined })),
    );
    expect(await driver.read("CERTIFICATE_CHECK", call())).toMatchObject({ text: "via-certificate" });
    await driver.close();
  });

  it("reports a rejected client secret as UNAUTHENTICATED without echoing it", async () => {
    const driver = await azureKeyVaultDriver.create(
      context(sdkEnvironment(vault, { AZURE_CLIENT_SECRET: "not-the-secret-value" })),
    );
    const error = await driver.read("ANY", call()).catch((failure: unknown) => failure);
    const classified = driver.classifyError(error);
    expect(classified.code).toBe(Code.Unauthenticated);
    expect(classified.message).not.toContain("not-the-secret-value");
    await driver.close();
  });

  it("lists every secret across Key Vault's pages, under the names they were written as", async () => {
    const driver = await azureKeyVaultDriver.create(
      context(sdkEnvironment(vault)),
    );
    const names = Array.from({ length: 30 }, (_, index) => `paged_${index}`);
    await Promise.all(names.map((name) => driver.write({ name, value: { text: name }, tags: {} }, call())));
    vault.faults.resetCalls();
    const listed = await driver.list!(call());
    expect(listed).toEqual(expect.arrayContaining(names));
    expect(vault.faults.calls().ListSecrets).toBeGreaterThanOrEqual(2);
    await driver.close();
  });

  it("reports a write as creating the secret only when listing its versions shows just that one, and never when it cannot list", async () => {
    const driver = await azureKeyVaultDriver.create(context(sdkEnvironment(vault)));
    try {
      expect(await driver.write({ name: "created_once", value: { text: "v1" }, tags: {} }, call())).toMatchObject({ created: true });
      expect(vault.store.versions("created-once")).toHaveLength(1);
      // Without the secrets/list permission the driver cannot tell, so it does not claim it.
      vault.faults.set([{ operation: "ListVersions", kind: "error", status: 403 }]);
      const unlisted = await driver.write({ name: "created_unlisted", value: { text: "v1" }, tags: {} }, call());
      expect(unlisted.created).toBe(false);
      expect(vault.store.get("created-unlisted").version.value).toBe("v1");
    } finally {
      vault.faults.clear();
      await driver.close();
    }
  });

  it("gives up at the caller's deadline when the vault stalls", async () => {
    const driver = await azureKeyVaultDriver.create(
      context(sdkEnvironment(vault)),
    );
    await driver.read("WARM_UP", call());
    vault.faults.set([{ operation: "GetSecret", kind: "latency", latencyMs: 2_000 }]);
    try {
      const error = await driver.read("STALLED", { team: {}, signal: AbortSignal.timeout(200) }).catch((failure: unknown) => failure);
      expect(driver.classifyError(error).code).toBe(Code.DeadlineExceeded);
    } finally {
      vault.faults.clear();
      await driver.close();
    }
  });

  it("refuses to start on an http:// or missing vault URI, or a client secret without its tenant", async () => {
    await expect(azureKeyVaultDriver.create(context({}))).rejects.toThrow(/AZURE_KEY_VAULT_URI must name the vault/);
    await expect(azureKeyVaultDriver.create(context({ AZURE_KEY_VAULT_URI: "http://127.0.0.1:1" }))).rejects.toThrow(/https/);
    await expect(
      azureKeyVaultDriver.create(context({ AZURE_KEY_VAULT_URI: vault.endpoint, AZURE_CLIENT_SECRET: "s", AZURE_CLIENT_ID: "c" })),
    ).rejects.toThrow(/AZURE_TENANT_ID/);
  });

  it("validates team vault_uri", () => {
    expect(azureKeyVaultDriver.teamSettings.safeParse({ vault_uri: "https://team.vault.azure.net" }).success).toBe(true);
    expect(azureKeyVaultDriver.teamSettings.safeParse({ vault_uri: "http://team.vault.azure.net" }).success).toBe(false);
    expect(azureKeyVaultDriver.teamSettings.safeParse({ region: "x" }).success).toBe(false);
  });

  it("reports an unreachable vault as UNAVAILABLE after bounded retries", async () => {
    const driver = await azureKeyVaultDriver.create(
      context({ ...sdkEnvironment(vault), AZURE_KEY_VAULT_URI: "https://127.0.0.1:9" }),
    );
    const error = await driver.read("ANY", call()).catch((failure: unknown) => failure);
    expect(driver.classifyError(error).code).toBe(Code.Unavailable);
    await driver.close();
  });

  it("classifies throttling with the Retry-After hint, and never echoes more than the service's message", async () => {
    const driver = await azureKeyVaultDriver.create(context({ AZURE_KEY_VAULT_URI: vault.endpoint, AZURE_CLIENT_ID: "x" }));
    const throttled = new RestError("Rate limit exceeded", {
      statusCode: 429,
      code: "Throttled",
      response: { headers: { get: (name: string) => (name === "retry-after" ? "3" : undefined) } } as never,
    });
    expect(driver.classifyError(throttled)).toMatchObject({ code: Code.ResourceExhausted, retryAfterMs: 3000 });
    expect(driver.classifyError(new RestError("nope", { statusCode: 403 })).code).toBe(Code.PermissionDenied);
    expect(driver.classifyError(new ServiceError(Code.InvalidArgument, "bad")).code).toBe(Code.InvalidArgument);
    await driver.close();
  });
});
