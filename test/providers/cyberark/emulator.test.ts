import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConjurEmulator, startEmulator } from "../../emulators/cyberark/index.js";

describe("Conjur emulator wire protocol", () => {
  let conjur: ConjurEmulator;
  let token: string;
  const app = () => conjur.logins[0]!;
  const other = () => conjur.logins[1]!;

  async function authenticate(login: { account: string; login: string; apiKey: string }): Promise<Response> {
    return fetch(`${conjur.endpoint}/authn/${login.account}/${encodeURIComponent(login.login)}/authenticate`, {
      method: "POST",
      headers: { "Accept-Encoding": "base64" },
      body: login.apiKey,
    });
  }
  const auth = (value = token) => ({ Authorization: `Token token="${value}"` });
  const variable = (id: string, account = "default") =>
    `${conjur.endpoint}/secrets/${account}/variable/${encodeURIComponent(id)}`;
  const loadPolicy = (branch: string, yaml: string, method = "POST", header = auth()) =>
    fetch(`${conjur.endpoint}/policies/default/policy/${encodeURIComponent(branch)}`, {
      method,
      headers: header,
      body: yaml,
    });

  beforeAll(async () => {
    conjur = await startEmulator({ host: "127.0.0.1", port: 0 });
    token = await (await authenticate(app())).text();
  });
  afterAll(async () => {
    await conjur?.close();
  });

  it("authenticates with the API key only, issuing a token that carries its expiry", async () => {
    expect((await authenticate({ ...app(), apiKey: "wrong" })).status).toBe(401);
    const raw = JSON.parse(Buffer.from(token, "base64").toString("utf8")) as { payload: string };
    const claims = JSON.parse(Buffer.from(raw.payload, "base64url").toString("utf8")) as {
      sub: string;
      iat: number;
      exp: number;
    };
    expect(claims.sub).toBe("host/secretgate");
    expect(claims.exp - claims.iat).toBe(480);
    expect((await fetch(variable("secretgate/x"), { headers: auth("bm90LWEtdG9rZW4=") })).status).toBe(401);
  });

  it("declares variables from real YAML (quoted names included) and keeps numbered versions", async () => {
    const policy = `- !variable plain\n- !variable 'quoted: name #1'\n- !variable\n  id: mapped/form\n`;
    expect((await loadPolicy("secretgate", policy)).status).toBe(201);
    for (const value of ["one", "two"]) {
      expect(
        (await fetch(variable("secretgate/quoted: name #1"), { method: "POST", headers: auth(), body: value })).status,
      ).toBe(201);
    }
    expect(await (await fetch(variable("secretgate/quoted: name #1"), { headers: auth() })).text()).toBe("two");
    expect(await (await fetch(`${variable("secretgate/quoted: name #1")}?version=1`, { headers: auth() })).text()).toBe(
      "one",
    );
    const resource = await (
      await fetch(`${conjur.endpoint}/resources/default/variable/${encodeURIComponent("secretgate/quoted: name #1")}`, {
        headers: auth(),
      })
    ).json();
    expect(resource).toMatchObject({
      id: "default:variable:secretgate/quoted: name #1",
      secrets: [{ version: 1 }, { version: 2 }],
    });
    expect(
      (await fetch(variable("secretgate/mapped/form"), { method: "POST", headers: auth(), body: "m" })).status,
    ).toBe(201);
  });

  it("answers 404 for an undeclared variable and for a declared one without a value", async () => {
    expect((await fetch(variable("secretgate/never"), { headers: auth() })).status).toBe(404);
    const empty = await fetch(variable("secretgate/plain"), { headers: auth() });
    expect(empty.status).toBe(404);
    expect(((await empty.json()) as { error: { message: string } }).error.message).toContain("is empty or not found");
  });

  it("fails a batch as a whole when one id is missing or denied", async () => {
    await fetch(variable("secretgate/plain"), { method: "POST", headers: auth(), body: "p" });
    const ids = (list: string[]) => `${conjur.endpoint}/secrets?variable_ids=${list.map(encodeURIComponent).join(",")}`;
    const ok = await fetch(ids(["default:variable:secretgate/plain", "default:variable:secretgate/mapped/form"]), {
      headers: auth(),
    });
    expect(await ok.json()).toEqual({
      "default:variable:secretgate/plain": "p",
      "default:variable:secretgate/mapped/form": "m",
    });
    expect(
      (
        await fetch(ids(["default:variable:secretgate/plain", "default:variable:secretgate/never"]), {
          headers: auth(),
        })
      ).status,
    ).toBe(404);
    expect(
      (await fetch(ids(["default:variable:secretgate/plain", "default:variable:apps/other/x"]), { headers: auth() }))
        .status,
    ).toBe(403);
  });

  it("lets a login reach only the variables of branches it owns", async () => {
    const otherToken = await (await authenticate(other())).text();
    expect((await fetch(variable("secretgate/plain"), { headers: auth(otherToken) })).status).toBe(403);
    expect(
      (await fetch(variable("secretgate/plain"), { method: "POST", headers: auth(otherToken), body: "x" })).status,
    ).toBe(403);
    expect((await loadPolicy("secretgate", "- !variable sneaky\n", "POST", auth(otherToken))).status).toBe(403);
    expect((await loadPolicy("no-such-branch", "- !variable x\n")).status).toBe(404);
  });

  it("deletes only through PATCH, removing the variable and its values", async () => {
    const deletion = "- !delete\n  record: !variable plain\n";
    expect((await loadPolicy("secretgate", deletion, "POST")).status).toBe(422);
    expect((await loadPolicy("secretgate", deletion, "PATCH")).status).toBe(201);
    expect((await fetch(variable("secretgate/plain"), { headers: auth() })).status).toBe(404);
    expect((await fetch(variable("secretgate/plain"), { method: "POST", headers: auth(), body: "x" })).status).toBe(
      404,
    );
  });

  it("refuses policy that is not YAML or uses records it does not know", async () => {
    expect((await loadPolicy("secretgate", "- !variable [unclosed\n")).status).toBe(422);
    expect((await loadPolicy("secretgate", "- !permit {role: x}\n")).status).toBe(422);
  });

  it("lists the variables a login can see, each with its versions; limit/offset page in id order, offset alone by 10", async () => {
    const ids = Array.from({ length: 12 }, (_, index) => `page/v${String(index).padStart(2, "0")}`);
    expect((await loadPolicy("secretgate", ids.map((id) => `- !variable ${id}`).join("\n"))).status).toBe(201);
    for (const value of ["one", "two"])
      await fetch(variable("secretgate/page/v00"), { method: "POST", headers: auth(), body: value });
    await loadPolicy("apps/other", "- !variable hidden\n", "POST", auth(await (await authenticate(other())).text()));
    const list = async (query: string, header = auth()) => {
      const response = await fetch(`${conjur.endpoint}/resources/default?${query}`, { headers: header });
      const text = await response.text();
      return { status: response.status, body: (text === "" ? undefined : JSON.parse(text)) as any };
    };

    const everything = (await list("kind=variable")).body as Array<{ id: string; secrets: Array<{ version: number }> }>;
    const visible = everything.map((resource) => resource.id);
    expect(visible).toEqual(expect.arrayContaining(ids.map((id) => `default:variable:secretgate/${id}`)));
    expect(visible).not.toContain("default:variable:apps/other/hidden");
    expect(everything.find((resource) => resource.id.endsWith("/page/v00"))).toMatchObject({
      owner: "default:policy:secretgate",
      secrets: [{ version: 1 }, { version: 2 }],
    });
    expect(everything.find((resource) => resource.id.endsWith("/page/v01"))?.secrets).toEqual([]);

    const sorted = [...visible].sort();
    const pageIds = async (query: string) =>
      ((await list(query)).body as Array<{ id: string }>).map((resource) => resource.id);
    expect(await pageIds("kind=variable&limit=5")).toEqual(sorted.slice(0, 5));
    expect(await pageIds("kind=variable&limit=5&offset=5")).toEqual(sorted.slice(5, 10));
    expect(await pageIds("kind=variable&offset=3")).toEqual(sorted.slice(3, 13));
    expect(await pageIds(`kind=variable&limit=5&offset=${sorted.length}`)).toEqual([]);
    expect(await pageIds("kind=policy")).toEqual([]);
    expect((await list("kind=variable&count=true")).body).toEqual({ count: sorted.length });

    expect((await list("kind=variable&limit=-1")).status).toBe(422);
    expect((await list("kind=variable&offset=ten")).status).toBe(422);
    expect((await list("kind=variable", { Authorization: 'Token token="bm9wZQ=="' })).status).toBe(401);
    const otherToken = await (await authenticate(other())).text();
    expect(await list("kind=variable", auth(otherToken))).toMatchObject({
      status: 200,
      body: [{ id: "default:variable:apps/other/hidden" }],
    });
  });

  it("applies a configured maximum (CONJUR_API_RESOURCE_LIST_LIMIT_MAX): no limit means the maximum, a larger one is 422", async () => {
    const limited = await startEmulator({ host: "127.0.0.1", port: 0, resourceListLimitMax: 3 });
    try {
      const login = limited.logins[0]!;
      const tokenHeader = {
        Authorization: `Token token="${await (await fetch(`${limited.endpoint}/authn/default/${encodeURIComponent(login.login)}/authenticate`, { method: "POST", headers: { "Accept-Encoding": "base64" }, body: login.apiKey })).text()}"`,
      };
      await fetch(`${limited.endpoint}/policies/default/policy/secretgate`, {
        method: "POST",
        headers: tokenHeader,
        body: "- !variable a\n- !variable b\n- !variable c\n- !variable d\n",
      });
      const list = (query: string) => fetch(`${limited.endpoint}/resources/default?${query}`, { headers: tokenHeader });
      expect(((await (await list("kind=variable")).json()) as unknown[]).length).toBe(3);
      expect(
        ((await (await list("kind=variable&limit=3&offset=3")).json()) as Array<{ id: string }>).map(
          (resource) => resource.id,
        ),
      ).toEqual(["default:variable:secretgate/d"]);
      const refused = await list("kind=variable&limit=4");
      expect(refused.status).toBe(422);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(
        "'Limit' parameter must not exceed 3",
      );
      expect(await (await list("kind=variable&count=true")).json()).toEqual({ count: 4 });
    } finally {
      await limited.close();
    }
  });

  it("expires tokens on demand and injects faults", async () => {
    conjur.expireTokens();
    expect((await fetch(variable("secretgate/mapped/form"), { headers: auth() })).status).toBe(401);
    token = await (await authenticate(app())).text();
    conjur.faults.set([{ operation: "GetSecret", kind: "error", status: 503, times: 1 }]);
    expect((await fetch(variable("secretgate/mapped/form"), { headers: auth() })).status).toBe(503);
    expect((await fetch(variable("secretgate/mapped/form"), { headers: auth() })).status).toBe(200);
    const calls = (await (await fetch(`${conjur.endpoint}/admin/calls`)).json()) as Record<string, number>;
    expect(calls.Authenticate).toBeGreaterThanOrEqual(3);
  });
});
