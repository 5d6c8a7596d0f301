import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CollectionTag, parseDocument, type ScalarTag, type YAMLMap } from "yaml";
import { z } from "zod";
import { Code } from "../../../src/core/errors.js";
import { definition as cyberark } from "../../../src/providers/cyberark/index.js";
import { LIST_PAGE_SIZE, MAX_LIST_PAGE_BYTES, MAX_LISTED_VARIABLES } from "../../../src/providers/cyberark/listing.js";
import { declareVariablePolicy, deleteVariablePolicy } from "../../../src/providers/cyberark/policy.js";
import type { SecretDatabase } from "../../../src/storage/database.js";
import { type ConjurEmulator, startEmulator } from "../../emulators/cyberark/index.js";
import { createDriver } from "../../helpers/create-driver.js";

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
    {
      tag: "!delete",
      collection: "map",
      resolve: (map) => `delete:${String((map as YAMLMap).get("record"))}`,
    } as CollectionTag,
  ];
  const names = [
    "plain",
    "with: colon",
    "hash #comment",
    "'quoted'",
    '"double"',
    "- dash",
    "ключ/密钥",
    "true",
    "123",
    "a\\b",
  ];

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
    const driver = await createDriver(cyberark, context(env()));
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
    const driver = await createDriver(cyberark, context(env()));
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
    const base = {
      CYBERARK_API_BASE: mutual.endpoint,
      CYBERARK_USERNAME: login.login,
      CYBERARK_API_KEY: login.apiKey,
      NODE_EXTRA_CA_CERTS: mutual.caFile!,
    };
    const withCertificate = await createDriver(
      cyberark,
      context({
        ...base,
        CYBERARK_CLIENT_CERT: mutual.clientCertificate!.certFile,
        CYBERARK_CLIENT_KEY: mutual.clientCertificate!.keyFile,
      }),
    );
    const without = await createDriver(cyberark, context(base));
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
    const driver = await createDriver(cyberark, context(env()));
    await driver.write({ name: "stalled", value: { text: "v" }, tags: {} }, call());
    conjur.faults.set([{ operation: "GetResource", kind: "latency", latencyMs: 2_000 }]);
    try {
      const error = await driver
        .read("stalled", { team: {}, signal: AbortSignal.timeout(200) })
        .catch((failure: unknown) => failure);
      expect(driver.classifyError(error).code).toBe(Code.DeadlineExceeded);
    } finally {
      conjur.faults.clear();
      await driver.close();
    }
  });

  it("lists its branch's variables page by page, named as read takes them, leaving out those without a value", async () => {
    const login = conjur.logins[0]!;
    const ids = Array.from({ length: 250 }, (_, index) => `listed/${index % 2 === 0 ? "a/b/" : ""}v${index}`);
    conjur.store.loadPolicy(
      "default",
      login,
      "secretgate",
      [...ids, "listed/declared-only"].map((id) => `- !variable ${id}`).join("\n"),
      "POST",
    );
    for (const id of ids) conjur.store.setValue("default", login, `secretgate/${id}`, Buffer.from(`value of ${id}`));
    conjur.store.loadPolicy("default", login, "team-b", "- !variable listed/elsewhere\n", "POST");
    conjur.store.setValue("default", login, "team-b/listed/elsewhere", Buffer.from("v"));
    const driver = await createDriver(cyberark, context(env()));
    try {
      conjur.faults.resetCalls();
      const names = (await driver.list!(call())).filter((name) => name.startsWith("listed/"));
      expect(names).toEqual([...ids].sort());
      expect(conjur.faults.calls().ListResources).toBeGreaterThanOrEqual(3);
      for (const name of [names[0]!, names.at(-1)!])
        expect(await driver.read(name, call())).toMatchObject({ text: `value of ${name}` });
      expect(await driver.read("listed/declared-only", call())).toBeUndefined();
      expect(await driver.list!({ ...call(), team: { policy_branch: "team-b" } })).toEqual(["listed/elsewhere"]);
    } finally {
      await driver.close();
    }
  });

  it("names variables by their full id when the branch is root, across every branch the login sees", async () => {
    const other = await startEmulator({
      host: "127.0.0.1",
      port: 0,
      logins: [{ account: "default", login: "host/admin", apiKey: "k", branches: ["root"] }],
    });
    const login = other.logins[0]!;
    other.store.loadPolicy("default", login, "root", "- !variable top\n", "POST");
    other.store.loadPolicy("default", login, "secretgate", "- !variable inner/key\n", "POST");
    for (const id of ["top", "secretgate/inner/key"]) other.store.setValue("default", login, id, Buffer.from("v"));
    const driver = await createDriver(
      cyberark,
      context(
        { CYBERARK_API_BASE: other.endpoint, CYBERARK_USERNAME: login.login, CYBERARK_API_KEY: login.apiKey },
        "root",
      ),
    );
    try {
      expect(await driver.list!(call())).toEqual(["secretgate/inner/key", "top"]);
      expect(await driver.read("secretgate/inner/key", call())).toMatchObject({ text: "v" });
    } finally {
      await driver.close();
      await other.close();
    }
  });

  it("asks for fewer per page when Conjur's configured maximum is below its page size", async () => {
    const limited = await startEmulator({ host: "127.0.0.1", port: 0, resourceListLimitMax: 7 });
    const login = limited.logins[0]!;
    limited.store.loadPolicy(
      "default",
      login,
      "secretgate",
      Array.from({ length: 20 }, (_, index) => `- !variable k${index}`).join("\n"),
      "POST",
    );
    for (let index = 0; index < 20; index += 1)
      limited.store.setValue("default", login, `secretgate/k${index}`, Buffer.from("v"));
    const driver = await createDriver(
      cyberark,
      context({ CYBERARK_API_BASE: limited.endpoint, CYBERARK_USERNAME: login.login, CYBERARK_API_KEY: login.apiKey }),
    );
    try {
      expect(await driver.list!(call())).toHaveLength(20);
      // One refused page of LIST_PAGE_SIZE, then 7 + 7 + 6.
      expect(limited.faults.calls().ListResources).toBe(4);
    } finally {
      await driver.close();
      await limited.close();
    }
  });

  it(`stops past ${MAX_LISTED_VARIABLES} variables with FAILED_PRECONDITION rather than listing without end`, async () => {
    const crowded = await startEmulator({ host: "127.0.0.1", port: 0 });
    const login = crowded.logins[0]!;
    crowded.store.loadPolicy(
      "default",
      login,
      "secretgate",
      Array.from({ length: MAX_LISTED_VARIABLES + 1 }, (_, index) => `- !variable k${index}`).join("\n"),
      "POST",
    );
    const driver = await createDriver(
      cyberark,
      context({ CYBERARK_API_BASE: crowded.endpoint, CYBERARK_USERNAME: login.login, CYBERARK_API_KEY: login.apiKey }),
    );
    try {
      const tooMany = await driver.list!(call()).catch((failure: unknown) => failure);
      expect(driver.classifyError(tooMany)).toMatchObject({
        code: Code.FailedPrecondition,
        message: expect.stringContaining(`at most ${MAX_LISTED_VARIABLES}`),
      });
    } finally {
      await driver.close();
      await crowded.close();
    }
  });

  it(`refuses a resource-list page larger than ${MAX_LIST_PAGE_BYTES} bytes rather than buffering it`, async () => {
    const bloated = await startEmulator({ host: "127.0.0.1", port: 0 });
    const login = bloated.logins[0]!;
    const longIds = Array.from(
      { length: LIST_PAGE_SIZE },
      (_, index) => `${index}${"x".repeat(Math.ceil(MAX_LIST_PAGE_BYTES / LIST_PAGE_SIZE))}`,
    );
    bloated.store.loadPolicy(
      "default",
      login,
      "secretgate",
      longIds.map((id) => `- !variable ${id}`).join("\n"),
      "POST",
    );
    const driver = await createDriver(
      cyberark,
      context({ CYBERARK_API_BASE: bloated.endpoint, CYBERARK_USERNAME: login.login, CYBERARK_API_KEY: login.apiKey }),
    );
    try {
      const tooLarge = await driver.list!(call()).catch((failure: unknown) => failure);
      expect(driver.classifyError(tooLarge)).toMatchObject({
        code: Code.Internal,
        message: expect.stringContaining(`exceeded ${MAX_LIST_PAGE_BYTES} bytes`),
      });
    } finally {
      await driver.close();
      await bloated.close();
    }
  });

  it("defaults CYBERARK_ACCOUNT to default and CYBERARK_REFRESH_INTERVAL to 300 s", () => {
    expect(cyberark.cachePolicy!({ env: {}, settings: context({}).settings })).toEqual({ ttlSeconds: 300 });
    expect(cyberark.cachePolicy!({ env: { CYBERARK_REFRESH_INTERVAL: "60" }, settings: context({}).settings })).toEqual(
      { ttlSeconds: 60 },
    );
    expect(() =>
      cyberark.cachePolicy!({ env: { CYBERARK_REFRESH_INTERVAL: "soon" }, settings: context({}).settings }),
    ).toThrow(/CYBERARK_REFRESH_INTERVAL/);
  });

  it("names the missing variable at start-up", async () => {
    await expect(createDriver(cyberark, context({}))).rejects.toThrow(/CYBERARK_API_BASE/);
    await expect(createDriver(cyberark, context({ CYBERARK_API_BASE: conjur.endpoint }))).rejects.toThrow(
      /CYBERARK_USERNAME/,
    );
    await expect(createDriver(cyberark, context({ ...env(), CYBERARK_CLIENT_CERT: "/x" }))).rejects.toThrow(
      /CYBERARK_CLIENT_KEY/,
    );
  });

  it("refuses team keys of other back ends", () => {
    expect(cyberark.teamSettings.safeParse({ account: "a", policy_branch: "b", prefix: "p/" }).success).toBe(true);
    expect(cyberark.teamSettings.safeParse({ mount: "secret" }).success).toBe(false);
  });

  it("takes only accounts and policy branches that reach Conjur exactly as written", () => {
    const accepts = (settings: Record<string, unknown>) => cyberark.teamSettings.safeParse(settings).success;
    for (const account of ["default", "my-org", "org.example", "a..b"])
      expect(accepts({ account }), account).toBe(true);
    for (const account of ["", ".", "..", "a/b", "a:b", "a%2e", "a\\b", "a\u0000b", "a\u2028b"])
      expect(accepts({ account }), JSON.stringify(account)).toBe(false);
    for (const branch of ["root", "apps", "apps/team-a", "apps/team.a", "a..b/c"])
      expect(accepts({ policy_branch: branch }), branch).toBe(true);
    for (const branch of [
      "",
      ".",
      "..",
      "apps/..",
      "../apps",
      "apps/./x",
      "apps//x",
      "/apps",
      "apps/",
      "a%2fb",
      "a\\b",
      "a\nb",
    ]) {
      expect(accepts({ policy_branch: branch }), JSON.stringify(branch)).toBe(false);
    }
    // The back end's own branch and the account in the environment follow the same rules.
    expect(z.safeParse(cyberark.settings!.policy_branch!, "apps/..").success).toBe(false);
  });

  it("refuses a CYBERARK_ACCOUNT that would not reach Conjur as written, naming it", async () => {
    await expect(createDriver(cyberark, context({ ...env(), CYBERARK_ACCOUNT: ".." }))).rejects.toThrow(
      /CYBERARK_ACCOUNT must not be '\.' or '\.\.'/,
    );
  });

  it("reports an unreachable Conjur as UNAVAILABLE and a wrong API key as UNAUTHENTICATED", async () => {
    const unreachable = await createDriver(cyberark, context({ ...env(), CYBERARK_API_BASE: "http://127.0.0.1:9" }));
    const down = await unreachable.read("x", call()).catch((failure: unknown) => failure);
    expect(unreachable.classifyError(down).code).toBe(Code.Unavailable);
    await unreachable.close();

    const wrongKey = await createDriver(cyberark, context({ ...env(), CYBERARK_API_KEY: "wrong" }));
    const refused = await wrongKey.read("x", call()).catch((failure: unknown) => failure);
    expect(wrongKey.classifyError(refused).code).toBe(Code.Unauthenticated);
    expect(wrongKey.classifyError(refused).message).not.toContain("wrong");
    await wrongKey.close();
  });
});
