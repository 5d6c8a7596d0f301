import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RestError } from "@azure/keyvault-secrets";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { Code, ServiceError } from "../../../src/core/errors.js";
import { MAX_LOCATIONS } from "../../../src/drivers/location-clients.js";
import type { AzureKeyVaultDriver } from "../../../src/providers/azure-key-vault/driver.js";
import { definition as azureKeyVault } from "../../../src/providers/azure-key-vault/index.js";
import { assertOwnedBy, toVaultName } from "../../../src/providers/azure-key-vault/vault-names.js";
import type { SecretDatabase } from "../../../src/storage/database.js";
import { type AzureKeyVaultEmulator, sdkEnvironment, startEmulator } from "../../emulators/azure-key-vault/index.js";
import { createDriver } from "../../helpers/create-driver.js";

const context = (env: Record<string, string>) => ({
  env,
  ciphertextEnv: {},
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
    const claims = {
      iss: "https://oidc.example/cluster",
      sub: "system:serviceaccount:llm:secretgate",
      aud: ["api://AzureADTokenExchange"],
    };
    writeFileSync(tokenFile, `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.c2ln`);
    vault.store.set("WORKLOAD-CHECK", { value: "via-federation" });
    const driver = await createDriver(
      azureKeyVault,
      context(sdkEnvironment(vault, { AZURE_FEDERATED_TOKEN_FILE: tokenFile })),
    );
    expect(await driver.read("WORKLOAD_CHECK", call())).toMatchObject({ text: "via-federation" });
    await driver.close();
  });

  it("authenticates with a client certificate (AZURE_CERTIFICATE_PATH)", async () => {
    const keyFile = join(dir, "sp.key");
    const certFile = join(dir, "sp.crt");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        keyFile,
        "-out",
        certFile,
        "-days",
        "1",
        "-subj",
        "/CN=secretgate-sp",
      ],
      { stdio: "ignore" },
    );
    const combined = join(dir, "sp.pem");
    writeFileSync(combined, readFileSync(keyFile, "utf8") + readFileSync(certFile, "utf8"));
    vault.store.set("CERTIFICATE-CHECK", { value: "via-certificate" });
    const driver = await createDriver(
      azureKeyVault,
      context(sdkEnvironment(vault, { AZURE_CERTIFICATE_PATH: combined })),
    );
    expect(await driver.read("CERTIFICATE_CHECK", call())).toMatchObject({ text: "via-certificate" });
    await driver.close();
  });

  it("reports a rejected client secret as UNAUTHENTICATED without echoing it", async () => {
    const driver = await createDriver(
      azureKeyVault,
      context(sdkEnvironment(vault, { AZURE_CLIENT_SECRET: "not-the-secret-value" })),
    );
    const error = await driver.read("ANY", call()).catch((failure: unknown) => failure);
    const classified = driver.classifyError(error);
    expect(classified.code).toBe(Code.Unauthenticated);
    expect(classified.message).not.toContain("not-the-secret-value");
    await driver.close();
  });

  it("keeps clients for at most MAX_LOCATIONS vaults, whatever vault_uri teams send, and still reads its own vault", async () => {
    const driver = (await createDriver(azureKeyVault, context(sdkEnvironment(vault)))) as AzureKeyVaultDriver;
    vault.store.set("POOL-CHECK", { value: "still-here" });
    try {
      for (let index = 0; index < MAX_LOCATIONS + 50; index += 1) {
        // An aborted call makes its client and sends nothing, so no vault needs to exist.
        const team = { vault_uri: `https://team-${index}.vault.azure.net` };
        await driver.read("ANY", { team, signal: AbortSignal.abort() }).catch(() => undefined);
      }
      expect(driver.clientCount).toBe(MAX_LOCATIONS);
      expect(await driver.read("POOL_CHECK", call())).toMatchObject({ text: "still-here" });
    } finally {
      await driver.close();
    }
    expect(driver.clientCount).toBe(0);
  });

  it("lists every secret across Key Vault's pages, under the names they were written as", async () => {
    const driver = await createDriver(azureKeyVault, context(sdkEnvironment(vault)));
    const names = Array.from({ length: 30 }, (_, index) => `paged_${index}`);
    await Promise.all(names.map((name) => driver.write({ name, value: { text: name }, tags: {} }, call())));
    vault.faults.resetCalls();
    const listed = await driver.list!(call());
    expect(listed).toEqual(expect.arrayContaining(names));
    expect(vault.faults.calls().ListSecrets).toBeGreaterThanOrEqual(2);
    await driver.close();
  });

  it("reports a write as creating the secret only when listing its versions shows just that one, and never when it cannot list", async () => {
    const driver = await createDriver(azureKeyVault, context(sdkEnvironment(vault)));
    try {
      expect(await driver.write({ name: "created_once", value: { text: "v1" }, tags: {} }, call())).toMatchObject({
        created: true,
      });
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

  it("reads a disabled secret as FAILED_PRECONDITION naming it, and a Write adds an enabled version", async () => {
    const driver = await createDriver(azureKeyVault, context(sdkEnvironment(vault)));
    try {
      await driver.write({ name: "switched_off", value: { text: "sk-before-disabling" }, tags: {} }, call());
      vault.store.update("switched-off", undefined, { enabled: false });
      const refused = await driver.read("switched_off", call()).catch((failure: unknown) => failure);
      expect(refused).toBeInstanceOf(ServiceError);
      expect(driver.classifyError(refused)).toMatchObject({ code: Code.FailedPrecondition });
      expect((refused as ServiceError).message).toMatch(
        /"switched-off".*"switched_off".*disabled.*enable it or write a new version/,
      );

      const written = await driver.write(
        { name: "switched_off", value: { text: "sk-after-disabling" }, tags: {} },
        call(),
      );
      expect(written.created).toBe(false);
      const versions = vault.store.versions("switched-off").map((entry) => entry.version);
      expect(versions.map((version) => version.enabled)).toEqual([false, true]);
      expect(await driver.read("switched_off", call())).toMatchObject({
        text: "sk-after-disabling",
        version: written.version,
      });
    } finally {
      await driver.close();
    }
  });

  it("refuses a write to a disabled secret that another secretgate name owns, naming both", async () => {
    const driver = await createDriver(azureKeyVault, context(sdkEnvironment(vault)));
    try {
      await driver.write({ name: "owned/off", value: { text: "first" }, tags: {} }, call());
      vault.store.update("owned-off", undefined, { enabled: false });
      const refused = await driver
        .write({ name: "owned_off", value: { text: "second" }, tags: {} }, call())
        .catch((failure: unknown) => failure);
      expect(driver.classifyError(refused)).toMatchObject({
        code: Code.InvalidArgument,
        message: expect.stringMatching(/"owned_off".*"owned\/off"/),
      });
      expect(vault.store.versions("owned-off")).toHaveLength(1);
      // Without the List permission the owner cannot be checked: refused, saying why.
      vault.faults.set([{ operation: "ListVersions", kind: "error", status: 403 }]);
      const unlisted = await driver
        .write({ name: "owned/off", value: { text: "third" }, tags: {} }, call())
        .catch((failure: unknown) => failure);
      expect(driver.classifyError(unlisted)).toMatchObject({
        code: Code.PermissionDenied,
        message: expect.stringMatching(/"owned-off" is disabled.*lists its versions/),
      });
      expect(vault.store.versions("owned-off")).toHaveLength(1);
    } finally {
      vault.faults.clear();
      await driver.close();
    }
  });

  it("refuses a caller's tag named secretgate-name, which records the name a secret was written under", async () => {
    const driver = await createDriver(azureKeyVault, context(sdkEnvironment(vault)));
    try {
      const refused = await driver
        .write(
          {
            name: "reserved-tag",
            value: { text: "sk-reserved" },
            tags: { "secretgate-name": "someone-else", team: "a" },
          },
          call(),
        )
        .catch((failure: unknown) => failure);
      expect(driver.classifyError(refused)).toMatchObject({
        code: Code.InvalidArgument,
        message: expect.stringContaining('tags["secretgate-name"]'),
      });
      expect(() => vault.store.get("reserved-tag")).toThrow(/not found/);
    } finally {
      await driver.close();
    }
  });

  it("describes a disabled secret by its newest version's tags, without its own name tag", async () => {
    const driver = await createDriver(azureKeyVault, context(sdkEnvironment(vault)));
    try {
      await driver.write({ name: "described_off", value: { text: "sk-off" }, tags: { team: "a" } }, call());
      vault.store.update("described-off", undefined, { enabled: false });
      expect(await driver.describe!("described_off", call())).toEqual({ tags: { team: "a" } });
    } finally {
      await driver.close();
    }
  });

  it.each([
    ["a plain-http link", (endpoint: string) => endpoint.replace("https:", "http:")],
    ["a link to another origin", () => "https://127.0.0.1:9"],
  ])("reports the SDK's refusal to follow %s in a list page as UNAVAILABLE, not INTERNAL", async (_case, origin) => {
    const driver = await createDriver(azureKeyVault, context(sdkEnvironment(vault)));
    await Promise.all(
      Array.from({ length: 26 }, (_, index) =>
        driver.write({ name: `linked-${index}`, value: { text: "x" }, tags: {} }, call()),
      ),
    );
    vault.setNextLinkOrigin(origin(vault.endpoint));
    try {
      const error = await driver.list!(call()).catch((failure: unknown) => failure);
      expect(error).toBeDefined();
      const classified = driver.classifyError(error);
      expect(classified.code).toBe(Code.Unavailable);
      expect(classified.message).toMatch(/refused/);
    } finally {
      vault.setNextLinkOrigin(undefined);
      await driver.close();
    }
  });

  it("gives up at the caller's deadline when the vault stalls", async () => {
    const driver = await createDriver(azureKeyVault, context(sdkEnvironment(vault)));
    await driver.read("WARM_UP", call());
    vault.faults.set([{ operation: "GetSecret", kind: "latency", latencyMs: 2_000 }]);
    try {
      const error = await driver
        .read("STALLED", { team: {}, signal: AbortSignal.timeout(200) })
        .catch((failure: unknown) => failure);
      expect(driver.classifyError(error).code).toBe(Code.DeadlineExceeded);
    } finally {
      vault.faults.clear();
      await driver.close();
    }
  });

  it("refuses to start on an http:// or missing vault URI, or a client secret without its tenant", async () => {
    await expect(createDriver(azureKeyVault, context({}))).rejects.toThrow(/AZURE_KEY_VAULT_URI must name the vault/);
    await expect(createDriver(azureKeyVault, context({ AZURE_KEY_VAULT_URI: "http://127.0.0.1:1" }))).rejects.toThrow(
      /https/,
    );
    await expect(
      createDriver(
        azureKeyVault,
        context({ AZURE_KEY_VAULT_URI: vault.endpoint, AZURE_CLIENT_SECRET: "s", AZURE_CLIENT_ID: "c" }),
      ),
    ).rejects.toThrow(/AZURE_TENANT_ID/);
  });

  it("validates team vault_uri", () => {
    expect(azureKeyVault.teamSettings.safeParse({ vault_uri: "https://team.vault.azure.net" }).success).toBe(true);
    expect(azureKeyVault.teamSettings.safeParse({ vault_uri: "http://team.vault.azure.net" }).success).toBe(false);
    expect(azureKeyVault.teamSettings.safeParse({ region: "x" }).success).toBe(false);
  });

  it("lets a team name only a Key Vault of Microsoft's clouds, or a host the back end's allowed_vault_hosts lists", () => {
    const accepts = (uri: string, allowed: string[] = []) =>
      azureKeyVault.teamSettingsFor!({ ...context({}).settings, allowed_vault_hosts: allowed }).safeParse({
        vault_uri: uri,
      }).success;
    for (const uri of [
      "https://team.vault.azure.net",
      "https://team.vault.azure.net/",
      "https://TEAM.vault.azure.net",
      "https://team.vault.azure.cn",
      "https://team.vault.usgovcloudapi.net",
      "https://team.vault.microsoftazure.de",
      "https://pool.managedhsm.azure.net",
      "https://pool.managedhsm.azure.cn",
      "https://pool.managedhsm.usgovcloudapi.net",
    ]) {
      expect(accepts(uri), uri).toBe(true);
    }
    for (const uri of [
      "https://127.0.0.1:8443",
      "https://localhost",
      "https://[::1]:8443",
      "https://evil.example.com",
      "https://team.vault.azure.net.evil.example.com",
      "https://vault.azure.net",
      "https://a.b.vault.azure.net",
      "https://team.vault.azure.net:8443",
      "https://team.vault.azure.net:443",
      "https://team.vault.azure.net/secrets",
      "https://team.vault.azure.net/./",
      "https://team.vault.azure.net?x=1",
      "https://team.vault.azure.net#x",
      "https://user@team.vault.azure.net",
      "https://t%65am.vault.azure.net",
      "https://team.vault.azure.net\\@evil.example.com",
      "https://-team.vault.azure.net",
    ]) {
      expect(accepts(uri), uri).toBe(false);
    }
    const allowed = ["127.0.0.1:8443", "[::1]:8443", "*.vault.corp.example", "private.example"];
    for (const uri of [
      "https://127.0.0.1:8443",
      "https://[::1]:8443",
      "https://eu.vault.corp.example",
      "https://private.example",
    ])
      expect(accepts(uri, allowed), uri).toBe(true);
    for (const uri of [
      "https://127.0.0.1:8444",
      "https://127.0.0.1",
      "https://vault.corp.example",
      "https://a.b.vault.corp.example",
      "https://private.example:8443",
    ]) {
      expect(accepts(uri, allowed), uri).toBe(false);
    }
    const hosts = azureKeyVault.settings!.allowed_vault_hosts!;
    expect(z.safeParse(hosts, ["127.0.0.1:8443", "*.vault.corp.example", "[::1]:1"]).success).toBe(true);
    for (const entry of ["https://x.example", "X.example", "x.example/path", "*", "x.*.example"]) {
      expect(z.safeParse(hosts, [entry]).success, entry).toBe(false);
    }
  });

  it("reports an unreachable vault as UNAVAILABLE after bounded retries", async () => {
    const driver = await createDriver(
      azureKeyVault,
      context({ ...sdkEnvironment(vault), AZURE_KEY_VAULT_URI: "https://127.0.0.1:9" }),
    );
    const error = await driver.read("ANY", call()).catch((failure: unknown) => failure);
    expect(driver.classifyError(error).code).toBe(Code.Unavailable);
    await driver.close();
  });

  it("classifies throttling with the Retry-After hint, and never echoes more than the service's message", async () => {
    const driver = await createDriver(
      azureKeyVault,
      context({ AZURE_KEY_VAULT_URI: vault.endpoint, AZURE_CLIENT_ID: "x" }),
    );
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

  // What the Key Vault SDK and its pipeline throw as plain Error (or RestError without a status),
  // in their own words: each is about the vault's answer or the credential, never a bug of ours.
  it.each([
    ["The request URL must use HTTPS.", Code.Unavailable],
    ["Bearer token authentication is not permitted for non-TLS protected (non-https) URLs.", Code.Unavailable],
    [
      "The challenge origin 'https://a.vault.azure.net' does not match the requested domain. This request targeted 'https://b.example'.",
      Code.Unavailable,
    ],
    [
      "The challenge resource 'vault.azure.net' does not match the requested domain. Set disableChallengeResourceVerification to true in your client options to disable.",
      Code.Unavailable,
    ],
    ["The challenge contains an invalid scope.", Code.Unavailable],
    ["The challenge authorization URI 'not a uri' is invalid.", Code.Unavailable],
    ["Invalid secret identifier: https://x/y. Bad number of segments: 2", Code.Unknown],
    ["Couldn't paginate response\n Body doesn't contain an array property with name: value", Code.Unknown],
    ["Body Property nextLink should be a string or undefined or null but got number", Code.Unknown],
    ["Polling completed without succeeding or failing", Code.Unknown],
    ["Failed to refresh access token.", Code.Unauthenticated],
  ])("classifies the SDK's %j by what it says", async (message, code) => {
    const driver = await createDriver(
      azureKeyVault,
      context({ AZURE_KEY_VAULT_URI: vault.endpoint, AZURE_CLIENT_ID: "x" }),
    );
    for (const error of [new Error(message), new RestError(message)]) {
      const classified = driver.classifyError(error);
      expect(classified.code).toBe(code);
      expect(classified.message).toContain(message.split("\n")[0]);
    }
    await driver.close();
  });

  it("keeps INTERNAL for a plain error that is no answer of the vault's (a bug), and UNAVAILABLE for a network failure", async () => {
    const driver = await createDriver(
      azureKeyVault,
      context({ AZURE_KEY_VAULT_URI: vault.endpoint, AZURE_CLIENT_ID: "x" }),
    );
    expect(driver.classifyError(new TypeError("Cannot read properties of undefined (reading 'x')")).code).toBe(
      Code.Internal,
    );
    expect(driver.classifyError(new RestError("connect ECONNREFUSED 127.0.0.1:9", { code: "ECONNREFUSED" })).code).toBe(
      Code.Unavailable,
    );
    await driver.close();
  });
});
