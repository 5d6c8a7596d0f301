import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "../../../src/core/errors.js";
import { validateTeamSettings } from "../../../src/core/team-settings.js";
import type { DriverCall, SecretDriver } from "../../../src/drivers/driver.js";
import { definition as hashicorpVault } from "../../../src/providers/hashicorp-vault/index.js";
import { MAX_LIST_DEPTH, MAX_LISTED_KEYS } from "../../../src/providers/hashicorp-vault/kv-listing.js";
import { readVaultSettings } from "../../../src/providers/hashicorp-vault/settings.js";
import { signJwt } from "../../emulators/hashicorp-vault/index.js";
import { createDriver } from "../../helpers/create-driver.js";
import { freePort } from "../../helpers/free-port.js";
import { startVaultTestBed, type VaultTestBed } from "../../helpers/vault-test-bed.js";

const makeDriver = (env: Record<string, string>) =>
  createDriver(hashicorpVault, {
    env,
    ciphertextEnv: {},
    settings: { store_virtual_keys: false, prefix_for_stored_virtual_keys: "litellm/" },
    database: undefined as never,
    logger: pino({ level: "silent" }),
  });

const call = (team: Record<string, unknown> = {}, timeoutMs = 10_000): DriverCall => ({
  team,
  signal: AbortSignal.timeout(timeoutMs),
});

async function failureOf(
  driver: SecretDriver,
  promise: Promise<unknown>,
): Promise<{ code: Code; message: string; name: string }> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught as Error,
  );
  expect(error, "the call succeeded").toBeDefined();
  return { ...driver.classifyError(error), name: error!.name };
}

describe("Vault settings from the environment", () => {
  it("sends the login namespace on login and the secret namespace in the URL, both defaulting to HCP_VAULT_NAMESPACE", () => {
    const both = readVaultSettings({ HCP_VAULT_TOKEN: "t", HCP_VAULT_NAMESPACE: "admin/" });
    expect([both.loginNamespace, both.secretNamespace]).toEqual(["admin", "admin"]);
    const split = readVaultSettings({
      HCP_VAULT_TOKEN: "t",
      HCP_VAULT_NAMESPACE: "admin",
      HCP_VAULT_SECRET_NAMESPACE: "admin/team-a",
    });
    expect([split.loginNamespace, split.secretNamespace]).toEqual(["admin", "admin/team-a"]);
  });

  it("picks AppRole over a certificate over Kubernetes over JWT over a static token", () => {
    const all = {
      HCP_VAULT_TOKEN: "t",
      HCP_VAULT_JWT_ROLE: "j",
      HCP_VAULT_JWT_PATH: "/jwt",
      HCP_VAULT_K8S_ROLE: "k",
      HCP_VAULT_CLIENT_CERT: "/c",
      HCP_VAULT_CLIENT_KEY: "/k",
      HCP_VAULT_APPROLE_ROLE_ID: "r",
      HCP_VAULT_APPROLE_SECRET_ID: "s",
    };
    const order: string[] = [];
    let env: Record<string, string> = { ...all };
    for (const drop of [
      ["HCP_VAULT_APPROLE_ROLE_ID", "HCP_VAULT_APPROLE_SECRET_ID"],
      ["HCP_VAULT_CLIENT_CERT", "HCP_VAULT_CLIENT_KEY"],
      ["HCP_VAULT_K8S_ROLE"],
      ["HCP_VAULT_JWT_ROLE"],
      [],
    ]) {
      order.push(readVaultSettings(env).auth.kind);
      env = Object.fromEntries(Object.entries(env).filter(([name]) => !drop.includes(name)));
    }
    expect(order).toEqual(["approle", "cert", "kubernetes", "jwt", "token"]);
    expect(readVaultSettings({ HCP_VAULT_K8S_ROLE: "k" }).auth).toMatchObject({
      mount: "kubernetes",
      jwtFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
    });
  });

  it("names what is missing or malformed", async () => {
    expect(() => readVaultSettings({})).toThrow(/HCP_VAULT_APPROLE_ROLE_ID.*HCP_VAULT_TOKEN/);
    expect(() => readVaultSettings({ HCP_VAULT_APPROLE_ROLE_ID: "r" })).toThrow(/HCP_VAULT_APPROLE_SECRET_ID/);
    expect(() => readVaultSettings({ HCP_VAULT_TOKEN: "t", HCP_VAULT_PATH_PREFIX: "a/../b" })).toThrow(
      /HCP_VAULT_PATH_PREFIX/,
    );
    expect(() => readVaultSettings({ HCP_VAULT_TOKEN: "t", HCP_VAULT_ADDR: "vault:8200" })).toThrow(/HCP_VAULT_ADDR/);
    const missingFile = {
      HCP_VAULT_ADDR: "https://127.0.0.1:8200",
      HCP_VAULT_TOKEN: "t",
      HCP_VAULT_CACERT: "/nonexistent/ca.pem",
    };
    await expect(makeDriver(missingFile)).rejects.toThrow(
      /HCP_VAULT_CACERT: cannot read \/nonexistent\/ca.pem \(ENOENT\)/,
    );
    const certOverHttp = {
      HCP_VAULT_ADDR: "http://127.0.0.1:8200",
      HCP_VAULT_CLIENT_CERT: "/c.pem",
      HCP_VAULT_CLIENT_KEY: "/k.pem",
    };
    await expect(makeDriver(certOverHttp)).rejects.toThrow(/needs an https:\/\/ HCP_VAULT_ADDR/);
    expect(() =>
      hashicorpVault.cachePolicy!({ env: { HCP_VAULT_REFRESH_INTERVAL: "soon" }, settings: {} as never }),
    ).toThrow(/HCP_VAULT_REFRESH_INTERVAL/);
    expect(hashicorpVault.cachePolicy!({ env: {}, settings: {} as never })).toEqual({ ttlSeconds: 86_400 });
    expect(hashicorpVault.cachePolicy!({ env: { HCP_VAULT_REFRESH_INTERVAL: "60" }, settings: {} as never })).toEqual({
      ttlSeconds: 60,
    });
  });

  it("accepts exactly the team keys docs/configuration.md lists for Vault", () => {
    const schema = hashicorpVault.teamSettings;
    expect(
      validateTeamSettings(schema, { namespace: "admin", mount: "kv", path_prefix: "llm/", data: "api_key" }),
    ).toEqual({
      namespace: "admin",
      mount: "kv",
      path_prefix: "llm/",
      data: "api_key",
    });
    for (const bad of [
      { prefix: "x/" },
      { mount: "" },
      { namespace: "a/../b" },
      { path_prefix: "x\u2028y" },
      { data: "" },
    ]) {
      expect(() => validateTeamSettings(schema, bad)).toThrow();
    }
  });
});

describe("Vault driver against the emulator", () => {
  let bed: VaultTestBed;
  let driver: SecretDriver;
  let dir: string;

  beforeAll(async () => {
    bed = await startVaultTestBed({ config: { kvMounts: [{ mount: "kv-teams" }] } });
    driver = await makeDriver(bed.env("token", { HCP_VAULT_TOKEN: bed.emulator.rootToken }));
    dir = mkdtempSync(join(tmpdir(), "vault-driver-test-"));
  });
  afterAll(async () => {
    await driver?.close();
    await bed?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stores the description next to the value and reads the value field only", async () => {
    await driver.write(
      { name: "described", value: { text: "sk-1" }, description: "litellm virtual key", tags: {} },
      call(),
    );
    const stored = await fetch(`${bed.emulator.endpoint}/v1/secret/data/described`, {
      headers: { "x-vault-token": bed.emulator.rootToken },
    });
    expect(((await stored.json()) as any).data.data).toEqual({ key: "sk-1", description: "litellm virtual key" });
    expect(await driver.read("described", call())).toEqual({ text: "sk-1", version: "1" });
  });

  it("stores tags as KV v2 custom metadata, and reports tags its policy may not write as a warning", async () => {
    const tags = { Environment: "Prod", team: "llm" };
    expect(await driver.write({ name: "tagged", value: { text: "v" }, tags }, call())).toEqual({
      version: "1",
      created: true,
      versionStamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:]{8}\.\d{9}Z$/),
    });
    const metadata = await fetch(`${bed.emulator.endpoint}/v1/secret/metadata/tagged`, {
      headers: { "x-vault-token": bed.emulator.rootToken },
    });
    expect(((await metadata.json()) as any).data.custom_metadata).toEqual(tags);

    const limited = await makeDriver(bed.env("approle"));
    const written = await limited.write({ name: "tagged-limited", value: { text: "v" }, tags }, call());
    expect(written.version).toBe("1");
    expect(written.warnings).toEqual([expect.stringMatching(/tags were not.*HTTP 403/)]);
    expect(await limited.read("tagged-limited", call())).toMatchObject({ text: "v" });
    // Described as Vault holds it: without the tags it refused.
    expect(await limited.describe!("tagged-limited", call())).toEqual({ tags: {} });
    await limited.close();
  });

  it("keeps tags within Vault's custom_metadata limits, and reports larger ones as a warning on a stored value", async () => {
    const tags = { team: "é".repeat(256) }; // 256 characters, the service's limit, but 512 bytes: Vault's limit is in bytes
    expect((await driver.write({ name: "wide-tags", value: { text: "v" }, tags }, call())).warnings).toBeUndefined();
    expect(await driver.describe!("wide-tags", call())).toEqual({ tags });

    const tooWide = { team: "€".repeat(200) }; // within the service's 256 characters, but 600 bytes
    const written = await driver.write({ name: "too-wide-tags", value: { text: "v" }, tags: tooWide }, call());
    expect(written.warnings).toEqual([
      expect.stringMatching(/tags were not.*HTTP 400: custom_metadata validation failed.*"team" is 600/),
    ]);
    expect(await driver.read("too-wide-tags", call())).toMatchObject({ text: "v" });
    expect(await driver.describe!("too-wide-tags", call())).toEqual({ tags: {} });
    const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, index) => [`k${index}`, "v"]));
    expect(
      (await driver.write({ name: "too-many-tags", value: { text: "v" }, tags: tooMany }, call())).warnings,
    ).toEqual([expect.stringMatching(/at most 64 keys/)]);
  });

  it("never reports the value as the description when the team's value field is named description", async () => {
    const team = { data: "description" };
    await driver.write(
      { name: "field-named-description", value: { text: "sk-the-value" }, description: "a description", tags: {} },
      call(team),
    );
    const described = await driver.describe!("field-named-description", call(team));
    expect(described).toEqual({ tags: {} });
    expect(JSON.stringify(described)).not.toContain("sk-the-value");
  });

  it("reports the current version from KV metadata, and none once soft-deleted", async () => {
    await driver.write({ name: "versioned", value: { text: "a" }, tags: {} }, call());
    await driver.write({ name: "versioned", value: { text: "b" }, tags: {} }, call());
    expect(await driver.currentVersion!("versioned", call())).toBe("2");
    expect(await driver.delete("versioned", { force: false }, call())).toEqual({ recoverable: true });
    expect(await driver.currentVersion!("versioned", call())).toBeUndefined();
    expect(await driver.delete("versioned", { force: false }, call())).toBeUndefined();
    expect(await driver.currentVersion!("never-written", call())).toBeUndefined();
  });

  it("lists the secrets under the team's mount and path prefix, folders followed, as read accepts them", async () => {
    const team = { mount: "kv-teams", path_prefix: "tree/llm" };
    for (const name of ["top", "nested/one", "nested/deeper/two", "nested"]) {
      await driver.write({ name, value: { text: `v-${name}` }, tags: {} }, call(team));
    }
    await driver.write(
      { name: "outside", value: { text: "v" }, tags: {} },
      call({ mount: "kv-teams", path_prefix: "tree" }),
    );
    const names = await driver.list!(call(team));
    expect(names).toEqual(["nested", "nested/deeper/two", "nested/one", "top"]);
    for (const name of names) expect(await driver.read(name, call(team))).toMatchObject({ text: `v-${name}` });
    expect(await driver.list!(call({ mount: "kv-teams", path_prefix: "tree" }))).toEqual([
      "llm/nested",
      "llm/nested/deeper/two",
      "llm/nested/one",
      "llm/top",
      "outside",
    ]);
  });

  it("leaves out what read calls missing: soft-deleted and destroyed secrets, and metadata without a version", async () => {
    const team = { mount: "kv-teams", path_prefix: "deleted" };
    for (const name of ["live", "soft-deleted", "destroyed", "rewritten"])
      await driver.write({ name, value: { text: "v" }, tags: {} }, call(team));
    await driver.delete("soft-deleted", { force: false }, call(team));
    await driver.delete("rewritten", { force: false }, call(team));
    await driver.write({ name: "rewritten", value: { text: "again" }, tags: {} }, call(team));
    const root = { "x-vault-token": bed.emulator.rootToken };
    await fetch(`${bed.emulator.endpoint}/v1/kv-teams/destroy/deleted/destroyed`, {
      method: "POST",
      headers: root,
      body: JSON.stringify({ versions: [1] }),
    });
    await fetch(`${bed.emulator.endpoint}/v1/kv-teams/metadata/deleted/tags-only`, {
      method: "POST",
      headers: root,
      body: JSON.stringify({ custom_metadata: { a: "b" } }),
    });
    expect(await driver.list!(call(team))).toEqual(["live", "rewritten"]);
    for (const name of ["soft-deleted", "destroyed", "tags-only"])
      expect(await driver.read(name, call(team))).toBeUndefined();
  });

  it("skips keys that would lead the listing out of its path", async () => {
    for (const path of ["hostile/ok", "hostile/x/../escaped", "hostile/x/./dot", "hostile/x//empty"]) {
      bed.emulator.kv.write("", "kv-teams", path, { data: { key: "v" } });
    }
    bed.emulator.faults.resetCalls();
    expect(await driver.list!(call({ mount: "kv-teams", path_prefix: "hostile" }))).toEqual(["ok"]);
    expect(bed.emulator.faults.calls()).toEqual({ "kv-list": 2, "kv-metadata-read": 1 });
  });

  it("lists an empty path as nothing and keeps an unknown mount an error", async () => {
    expect(await driver.list!(call({ path_prefix: "nothing/here" }))).toEqual([]);
    const failure = await failureOf(driver, driver.list!(call({ mount: "no-such-mount" })));
    expect(failure).toMatchObject({ code: Code.NotFound, message: expect.stringContaining("no handler for route") });
  });

  it("refuses a token without the list capability with PERMISSION_DENIED", async () => {
    bed.emulator.configure({ policies: { "no-list": [{ path: "secret/metadata/*", capabilities: ["read"] }] } });
    const token = bed.emulator.tokens.issue(
      { method: "approle", name: "no-list", policies: ["no-list"] },
      "",
      "no-list",
    ).id;
    const unlisting = await makeDriver(bed.env("token", { HCP_VAULT_TOKEN: token }));
    const failure = await failureOf(unlisting, unlisting.list!(call()));
    expect(failure).toMatchObject({ code: Code.PermissionDenied, message: expect.stringContaining("list") });
    await unlisting.close();
  });

  it(`stops a listing deeper than ${MAX_LIST_DEPTH} levels or past ${MAX_LISTED_KEYS} keys with FAILED_PRECONDITION, naming the bound`, async () => {
    // A name of MAX_LIST_DEPTH segments lists; one more segment is refused rather than followed.
    const deep = Array.from({ length: MAX_LIST_DEPTH + 1 }, () => "d").join("/");
    await driver.write(
      { name: deep, value: { text: "v" }, tags: {} },
      call({ mount: "kv-teams", path_prefix: "deep" }),
    );
    const tooDeep = await failureOf(driver, driver.list!(call({ mount: "kv-teams", path_prefix: "deep" })));
    expect(tooDeep).toMatchObject({
      code: Code.FailedPrecondition,
      message: expect.stringContaining(`${MAX_LIST_DEPTH} levels`),
    });
    const justDeepEnough = await driver.list!(call({ mount: "kv-teams", path_prefix: "deep/d" }));
    expect(justDeepEnough).toEqual([deep.slice("d/".length)]);

    for (let index = 0; index <= MAX_LISTED_KEYS; index += 1)
      bed.emulator.kv.write("", "kv-teams", `wide/k${index}`, { data: { key: "v" } });
    const tooWide = await failureOf(driver, driver.list!(call({ mount: "kv-teams", path_prefix: "wide" })));
    expect(tooWide).toMatchObject({
      code: Code.FailedPrecondition,
      message: expect.stringContaining(`${MAX_LISTED_KEYS}`),
    });
  });

  it("says which field is missing when a secret lacks the team's data field", async () => {
    await driver.write({ name: "shape", value: { text: "v" }, tags: {} }, call());
    const failure = await failureOf(driver, driver.read("shape", call({ data: "api_key" })));
    expect(failure.code).toBe(Code.FailedPrecondition);
    expect(failure.message).toContain('"api_key"');
  });

  it("gives teams with different locations different cache keys", () => {
    const keys = [{}, { namespace: "a" }, { mount: "kv-teams" }, { path_prefix: "x" }, { data: "api_key" }].map(
      (team) => driver.locationKey!(team),
    );
    expect(new Set(keys).size).toBe(keys.length);
    expect(driver.locationKey!({ mount: "/secret/" })).toBe(driver.locationKey!({}));
  });

  it("keeps an unknown mount an error rather than a missing secret", async () => {
    const failure = await failureOf(driver, driver.read("anything", call({ mount: "no-such-mount" })));
    expect(failure.code).toBe(Code.NotFound);
    expect(failure.message).toContain("no handler for route");
  });

  it("stops at the caller's deadline while Vault is slow", async () => {
    bed.emulator.faults.set([{ operation: "kv-read", kind: "latency", latencyMs: 2_000 }]);
    try {
      const failure = await failureOf(driver, driver.read("described", call({}, 200)));
      expect(failure.name).toBe("TimeoutError");
    } finally {
      bed.emulator.faults.clear();
    }
  });

  it("is UNAVAILABLE when Vault drops connections or is not listening", async () => {
    bed.emulator.faults.set([{ operation: "kv-read", kind: "drop" }]);
    try {
      const dropped = await failureOf(driver, driver.read("described", call()));
      expect(dropped.code).toBe(Code.Unavailable);
    } finally {
      bed.emulator.faults.clear();
    }
    const closedPort = await freePort();
    const nowhere = await makeDriver({ HCP_VAULT_ADDR: `http://127.0.0.1:${closedPort}`, HCP_VAULT_TOKEN: "t" });
    const failure = await failureOf(nowhere, nowhere.read("x", call()));
    expect(failure).toMatchObject({ code: Code.Unavailable, message: expect.stringContaining("ECONNREFUSED") });
    await nowhere.close();
  });

  it("refuses logins with a JWT from an unknown key, an unbound service account, or no token file", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const exp = Math.floor(Date.now() / 1000) + 600;
    const foreign = join(dir, "foreign.jwt");
    writeFileSync(
      foreign,
      signJwt({ sub: "secretgate", aud: "vault", exp }, privateKey.export({ type: "pkcs8", format: "pem" }).toString()),
    );
    const cases: Array<[Record<string, string>, Code]> = [
      [bed.env("jwt", { HCP_VAULT_JWT_PATH: foreign }), Code.PermissionDenied],
      [bed.env("kubernetes", { HCP_VAULT_K8S_JWT_PATH: foreign }), Code.PermissionDenied],
      [bed.env("kubernetes", { HCP_VAULT_K8S_ROLE: "someone-else" }), Code.PermissionDenied],
      [bed.env("approle", { HCP_VAULT_APPROLE_SECRET_ID: "wrong" }), Code.PermissionDenied],
      [bed.env("cert", { HCP_VAULT_CERT_ROLE: "unknown-role" }), Code.PermissionDenied],
      [bed.env("jwt", { HCP_VAULT_JWT_PATH: join(dir, "missing.jwt") }), Code.FailedPrecondition],
    ];
    for (const [env, code] of cases) {
      const refused = await makeDriver(env);
      const failure = await failureOf(refused, refused.read("x", call()));
      expect(failure.code).toBe(code);
      expect(failure.message).toMatch(/could not log in to Vault/);
      expect(failure.message).not.toContain("wrong");
      await refused.close();
    }
  });

  it("re-reads the Kubernetes token file at every login", async () => {
    const kubernetes = await makeDriver(bed.env("kubernetes"));
    await kubernetes.write({ name: "k8s", value: { text: "v" }, tags: {} }, call());
    // The projected token file is rotated to a token the role does not accept…
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    writeFileSync(
      bed.env("kubernetes").HCP_VAULT_K8S_JWT_PATH!,
      signJwt(
        { sub: "system:serviceaccount:llm:intruder", exp: Math.floor(Date.now() / 1000) + 600 },
        privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      ),
    );
    // …and the next login, forced by a revoked token, sends it.
    bed.emulator.tokens.revokeAll(bed.emulator.rootToken);
    expect((await failureOf(kubernetes, kubernetes.read("k8s", call()))).code).toBe(Code.PermissionDenied);
    bed.refreshJwts();
    await kubernetes.close();
  });

  it("explains a server certificate it cannot verify", async () => {
    const env = bed.env("cert");
    delete env.HCP_VAULT_CACERT;
    const untrusting = await makeDriver(env);
    const failure = await failureOf(untrusting, untrusting.read("x", call()));
    expect(failure.code).toBe(Code.Unavailable);
    expect(failure.message).toContain("HCP_VAULT_CACERT");
    await untrusting.close();
  });

  it("does not retry a refused login on every call", async () => {
    const refused = await makeDriver(bed.env("approle", { HCP_VAULT_APPROLE_SECRET_ID: "wrong" }));
    bed.emulator.faults.resetCalls();
    const failures = await Promise.all(Array.from({ length: 5 }, () => failureOf(refused, refused.read("x", call()))));
    failures.push(await failureOf(refused, refused.read("x", call())));
    expect(failures.map((failure) => failure.code)).toEqual(Array(6).fill(Code.PermissionDenied));
    expect(bed.emulator.faults.calls()).toEqual({ login: 1 });
    await refused.close();
  });
});
