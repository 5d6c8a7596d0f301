import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VaultEmulator } from "../../emulators/hashicorp-vault/index.js";
import { startVaultTestBed, type VaultTestBed } from "../../helpers/vault-test-bed.js";

async function vault(
  endpoint: string,
  method: string,
  path: string,
  options: { token?: string; namespace?: string; body?: unknown } = {},
) {
  const headers: Record<string, string> = {};
  if (options.token) headers["x-vault-token"] = options.token;
  if (options.namespace) headers["x-vault-namespace"] = options.namespace;
  const response = await fetch(`${endpoint}/v1/${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? undefined : (JSON.parse(text) as any) };
}

describe("Vault emulator", () => {
  let bed: VaultTestBed;

  beforeAll(async () => {
    bed = await startVaultTestBed({ role: { namespace: "admin" }, config: { namespaces: ["admin/team-a"] } });
  });
  afterAll(async () => {
    await bed?.close();
  });

  it("answers sys/health with 503 and sealed: true while sealed, and refuses data calls", async () => {
    bed.emulator.sealed = true;
    try {
      expect(await vault(bed.emulator.endpoint, "GET", "sys/health")).toMatchObject({
        status: 503,
        body: { sealed: true },
      });
      expect(await vault(bed.emulator.endpoint, "GET", "secret/data/x", { token: bed.emulator.rootToken })).toEqual({
        status: 503,
        body: { errors: ["Vault is sealed"] },
      });
    } finally {
      bed.emulator.sealed = false;
    }
  });

  it("scopes logins to the namespace in the header and tokens to that namespace and its children", async () => {
    const body = { role_id: bed.approle.roleId, secret_id: bed.approle.secretId };
    expect((await vault(bed.emulator.endpoint, "POST", "auth/approle/login", { body })).status).toBe(400);
    const login = await vault(bed.emulator.endpoint, "POST", "auth/approle/login", { body, namespace: "admin" });
    const token = login.body.auth.client_token as string;
    // The `secretgate` policy grants secret/*, relative to the token's namespace `admin`.
    expect(
      (await vault(bed.emulator.endpoint, "POST", "admin/secret/data/a", { token, body: { data: { key: "v" } } }))
        .status,
    ).toBe(200);
    expect((await vault(bed.emulator.endpoint, "GET", "secret/data/a", { token, namespace: "admin" })).status).toBe(
      200,
    );
    expect((await vault(bed.emulator.endpoint, "GET", "secret/data/a", { token })).status).toBe(403);
    expect((await vault(bed.emulator.endpoint, "GET", "admin/team-a/secret/data/a", { token })).status).toBe(403);
  });

  it("accepts cert login only over TLS with a client certificate signed by its CA", async () => {
    const { certificates, tlsEndpoint } = bed.emulator;
    const login = (withClientCertificate: boolean) =>
      new Promise<number>((resolve, reject) => {
        const request = https.request(
          `${tlsEndpoint}/v1/auth/cert/login`,
          {
            method: "POST",
            headers: { "x-vault-namespace": "admin" },
            ca: readFileSync(certificates.caFile),
            ...(withClientCertificate
              ? { cert: readFileSync(certificates.clientCertFile), key: readFileSync(certificates.clientKeyFile) }
              : {}),
          },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.on("error", reject);
        request.end(JSON.stringify({ name: "secretgate" }));
      });
    expect(await login(false)).toBe(400);
    expect(await login(true)).toBe(200);
    expect(
      (
        await vault(bed.emulator.endpoint, "POST", "auth/cert/login", {
          namespace: "admin",
          body: { name: "secretgate" },
        })
      ).status,
    ).toBe(400);
  });

  it("closes while a client still holds a keep-alive connection", async () => {
    const emulator = await VaultEmulator.start();
    const agent = new http.Agent({ keepAlive: true });
    try {
      const status = await new Promise<number | undefined>((resolve, reject) => {
        http
          .get(`${emulator.endpoint}/v1/sys/health`, { agent }, (response) =>
            response.resume().on("end", () => resolve(response.statusCode)),
          )
          .on("error", reject);
      });
      expect(status).toBe(200);
      await emulator.close();
    } finally {
      agent.destroy();
    }
  });

  it("keeps KV v2 check-and-set and version history", async () => {
    const token = bed.emulator.rootToken;
    const write = (cas: number | undefined, value: string) =>
      vault(bed.emulator.endpoint, "POST", "secret/data/cas", {
        token,
        body: { data: { key: value }, ...(cas !== undefined ? { options: { cas } } : {}) },
      });
    expect((await write(0, "first")).body.data.version).toBe(1);
    expect(await write(0, "again")).toMatchObject({
      status: 400,
      body: { errors: ["check-and-set parameter did not match the current version"] },
    });
    expect((await write(1, "second")).body.data.version).toBe(2);
    const old = await vault(bed.emulator.endpoint, "GET", "secret/data/cas?version=1", { token });
    expect(old.body.data).toMatchObject({ data: { key: "first" }, metadata: { version: 1 } });
  });

  it("lists KV v2 keys with LIST or ?list=true: folders end in '/', soft-deleted keys stay, nothing is a 404", async () => {
    const { endpoint, rootToken: token } = bed.emulator;
    for (const name of ["listing/a", "listing/b/c", "listing/b/d/e", "listing/gone"]) {
      await vault(endpoint, "POST", `secret/data/${name}`, { token, body: { data: { key: "v" } } });
    }
    await vault(endpoint, "DELETE", "secret/data/listing/gone", { token });
    expect((await vault(endpoint, "LIST", "secret/metadata/listing", { token })).body.data).toEqual({
      keys: ["a", "b/", "gone"],
    });
    expect((await vault(endpoint, "GET", "secret/metadata/listing/b/?list=true", { token })).body.data).toEqual({
      keys: ["c", "d/"],
    });
    expect(await vault(endpoint, "LIST", "secret/metadata/listing/a", { token })).toMatchObject({
      status: 404,
      body: { errors: [] },
    });
    expect(await vault(endpoint, "LIST", "secret/metadata/nothing-here", { token })).toMatchObject({
      status: 404,
      body: { errors: [] },
    });
  });

  it("checks LIST against the `list` capability on the folder's path with its trailing '/', as Vault does", async () => {
    const { endpoint, rootToken } = bed.emulator;
    await vault(endpoint, "POST", "secret/data/acl-listing/key", { token: rootToken, body: { data: { key: "v" } } });
    bed.emulator.configure({
      policies: {
        lister: [{ path: "secret/metadata/*", capabilities: ["list"] }],
        reader: [{ path: "secret/metadata/*", capabilities: ["read"] }],
      },
    });
    const token = (policy: string) =>
      bed.emulator.tokens.issue({ method: "approle", name: policy, policies: [policy] }, "", policy).id;
    const root = await vault(endpoint, "LIST", "secret/metadata", { token: token("lister") });
    expect(root.status).toBe(200);
    expect(root.body.data.keys).toContain("acl-listing/");
    expect(
      (await vault(endpoint, "LIST", "secret/metadata/acl-listing", { token: token("lister") })).body.data,
    ).toEqual({ keys: ["key"] });
    expect((await vault(endpoint, "LIST", "secret/metadata/acl-listing", { token: token("reader") })).status).toBe(403);
  });
});
