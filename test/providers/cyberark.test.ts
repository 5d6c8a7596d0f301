import { pino } from "pino";
import { parseDocument, type ScalarTag, type CollectionTag, type YAMLMap } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "../../src/core/errors.js";
import { cyberArkDriver } from "../../src/providers/cyberark/cyberark-driver.js";
import { declareVariablePolicy, deleteVariablePolicy } from "../../src/providers/cyberark/conjur-policy.js";
import type { SecretDatabase } from "../../src/storage/database.js";
import { startEmulator, type ConjurEmulator } from "../emulators/conjur/index.js";

const context = (env: Record<string, string>, policyBranch = "secretgate") => ({
  env,
  ciphertextEnv: {},
  settings: { store_virtual_keys: false, prefix_for_stored_virtual_keys: "litellm/", policy_branch: policyBranch },
  database: undefined as unknown as SecretDatabase,
  logger: pino({ level: "silent" }),
});
const call = () => ({ team: {}, signal: AbortSignal.timeout(15_000) });

describe("Conjur policy documents", () => {
  const tags: Array<ScalarTag | CollectionTag> = [
    { tag: "!variable", resolve: (value: string) => `variable:${value}` } as ScalarTag,
    { tag: "!delete", collection: "map", resolve: (map) => `delete:${String((map as YAMLMap).get("record"))}` } as CollectionTag,
  ];
  const names = ["plain", "with: colon", "hash #comment", "'quoted'", "\"double\"", "- dash", "ключ/密钥", "true", "123", "a\\b"];

  it.each(names)("declares %j so YAML reads back exactly that id", (name) => {
    expect(parseDocument(declareVariablePolicy(name), { customTags: tags }).toJS()).toEqual([`variable:${name}`]);
  });

  it.each(names)("deletes %j by its exact id", (name) => {
    expect(parseDocument(deleteVariablePolicy(name), { customTags: tags }).toJS()).toEqual([`delete:variable:${name}`]);
  });
});

describe("Conjur driver", () => {
  let conjur: ConjurEmulator;
  const env = () => {
    const login = conjur.logins[0]!;
    return { CYBERARK_API_BASE: conjur.endpoint, CYBERARK_USERNAME: login.login, CYBERARK_API_KEY: login.apiKey };
  };

  beforeAll(async () => {
    conjur = await startEmulator({ host: "127.0.0.1", port: 0, tokenTtlSeconds: 1 });
  });
  afterAll(async () => {
    await conjur?.close();
  });

  it("replaces its token before it expires, so no call is ever refused", async () => {
    const driver = await cyberArkDriver.create(context(env()));
    await driver.write({ name: "aging", value: { text: "v" }, tags: {} }, call());
    conjur.faults.resetCalls();
    // Past three quarters of the one-second token life: the next call re-authenticates first.
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(await driver.read("aging", call())).toMatchObject({ text: "v" });
    expect(conjur.faults.calls()).toMatchObject({ Authenticate: 1 });
    expect(conjur.faults.calls().Unauthenticated).toBeUndefined();
    await driver.close();
  });

  it("reports throttling as RESOURCE_EXHAUSTED with Conjur's Retry-After", async () => {
    const driver = await cyberArkDriver.create(context(env()));
    conjur.faults.set([{ operation: "GetResource", kind: "throttle", retryAfterSeconds: 2 }]);
    try {
      const error = await driver.read("aging", call()).catch((failure: unknown) => failure);
      expect(driver.classifyError(error)).toMatchObject({ code: Code.ResourceExhausted, retryAfterMs: 2000 });
    } finally {
      conjur.faults.clear();
      await driver.close();
    }
  });

  it("presents CYBERARK_CLIENT_CERT/KEY to a Conjur that requires mutual TLS", async () => {
    const mutual = await startEmulator({ host: "127.0.0.1", port: 0, tls: true, requireClientCertificate: true });
    const login = mutual.logins[0]!;
    const base = { CYBERARK_API_BASE: mutual.endpoint, CYBERARK_USERNAME: login.login, CYBERARK_API_KEY: login.apiKey, NODE_EXTRA_CA_CERTS: mutual.caFile! };
    const withCertificate = await cyberArkDriver.create(
      context({ ...base, CYBERARK_CLIENT_CERT: mutual.clientCertificate!.certFile, CYBERARK_CLIENT_KEY: mutual.clientCertificate!.keyFile }),
    );
    const without = await cyberArkDriver.create(context(base));
    try {
      await withCertificate.write({ name: "mtls", value: { text: "over mutual TLS" }, tags: {} }, call());
      expect(await withCertificate.read("mtls", call())).toMatchObject({ text: "over mutual TLS", version: "1" });
      const refused = await without.read("mtls", call()).catch((failure: unknown) => failure);
      expect(without.classifyError(refused).code).toBe(Code.Unavailable);
    } finally {
      await withCertificate.close();
      await without.close();
      await mutual.close();
    }
  });

  it("gives up at the caller's deadline when Conjur stalls", async () => {
    const driver = await cyberArkDriver.create(context(env()));
    await driver.write({ name: "stalled", value: { text: "v" }, tags: {} }, call());
    conjur.faults.set([{ operation: "GetResource", kind: "latency", latencyMs: 2_000 }]);
    try {
      const error = await driver.read("stalled", { team: {}, signal: AbortSignal.timeout(200) }).catch((failure: unknown) => failure);
      expect(driver.classifyError(error).code).toBe(Code.DeadlineExceeded);
    } finally {
      conjur.faults.clear();
      await driver.close();
    }
  });

  it("defaults CYBERARK_ACCOUNT to default and CYBERARK_REFRESH_INTERVAL to 300 s", () => {
    expect(cyberArkDriver.cachePolicy!({ env: {}, settings: context({}).settings })).toEqual({ ttlSeconds: 300 });
    expect(cyberArkDriver.cachePolicy!({ env: { CYBERARK_REFRESH_INTERVAL: "60" }, settings: context({}).settings })).toEqual({ ttlSeconds: 60 });
    expect(() => cyberArkDriver.cachePolicy!({ env: { CYBERARK_REFRESH_INTERVAL: "soon" }, settings: context({}).settings })).toThrow(/CYBERARK_REFRESH_INTERVAL/);
  });

  it("names the missing variable at start-up", async () => {
    await expect(cyberArkDriver.create(context({}))).rejects.toThrow(/CYBERARK_API_BASE/);
    await expect(cyberArkDriver.create(context({ CYBERARK_API_BASE: conjur.endpoint }))).rejects.toThrow(/CYBERARK_USERNAME/);
    await expect(cyberArkDriver.create(context({ ...env(), CYBERARK_CLIENT_CERT: "/x" }))).rejects.toThrow(/CYBERARK_CLIENT_KEY/);
  });

  it("refuses team keys of other back ends", () => {
    expect(cyberArkDriver.teamSettings.safeParse({ account: "a", policy_branch: "b", prefix: "p/" }).success).toBe(true);
    expect(cyberArkDriver.teamSettings.safeParse({ mount: "secret" }).success).toBe(false);
  });

  it("reports an unreachable Conjur as UNAVAILABLE and a wrong API key as UNAUTHENTICATED", async () => {
    const unreachable = await cyberArkDriver.create(context({ ...env(), CYBERARK_API_BASE: "http://127.0.0.1:9" }));
    const down = await unreachable.read("x", call()).catch((failure: unknown) => failure);
    expect(unreachable.classifyError(down).code).toBe(Code.Unavailable);
    await unreachable.close();

    const wrongKey = await cyberArkDriver.create(context({ ...env(), CYBERARK_API_KEY: "wrong" }));
    const refused = await wrongKey.read("x", call()).catch((failure: unknown) => failure);
    expect(wrongKey.classifyError(refused).code).toBe(Code.Unauthenticated);
    expect(wrongKey.classifyError(refused).message).not.toContain("wrong");
    await wrongKey.close();
  });
});
