import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AzureKeyVaultEmulator, startEmulator } from "../../emulators/azure-key-vault/index.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** Raw HTTPS against the emulator (verified with its CA), to pin the wire protocol itself. */
function call(
  vault: AzureKeyVaultEmulator,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; form?: Record<string, string> } = {},
): Promise<Reply> {
  const payload = options.form
    ? new URLSearchParams(options.form).toString()
    : options.body === undefined
      ? ""
      : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${vault.endpoint}${path}`,
      {
        method,
        ca: vault.caPem,
        headers: {
          ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
          ...(payload
            ? { "Content-Type": options.form ? "application/x-www-form-urlencoded" : "application/json" }
            : {}),
        },
      },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
        incoming.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: incoming.statusCode ?? 0,
            headers: incoming.headers,
            body: text ? JSON.parse(text) : undefined,
          });
        });
      },
    );
    outgoing.on("error", reject);
    outgoing.end(payload);
  });
}

describe("Azure Key Vault emulator wire protocol", () => {
  let vault: AzureKeyVaultEmulator;
  let token: string;
  const v = "api-version=7.5";

  beforeAll(async () => {
    vault = await startEmulator({ host: "127.0.0.1", port: 0 });
    const issued = await call(vault, "POST", `/${vault.app.tenantId}/oauth2/v2.0/token`, {
      form: {
        grant_type: "client_credentials",
        client_id: vault.app.clientId,
        client_secret: vault.app.clientSecret,
        scope: "https://vault.azure.net/.default",
      },
    });
    token = issued.body.access_token;
  });
  afterAll(async () => {
    await vault?.close();
  });

  it("challenges an unauthenticated request with Key Vault's WWW-Authenticate header", async () => {
    const reply = await call(vault, "GET", `/secrets/anything?${v}`);
    expect(reply.status).toBe(401);
    expect(reply.headers["www-authenticate"]).toBe(
      `Bearer authorization="${vault.endpoint}/${vault.app.tenantId}", resource="https://vault.azure.net"`,
    );
    expect(reply.body.error.code).toBe("Unauthorized");
  });

  it("issues tokens only for the registered client secret", async () => {
    const reply = await call(vault, "POST", `/${vault.app.tenantId}/oauth2/v2.0/token`, {
      form: {
        grant_type: "client_credentials",
        client_id: vault.app.clientId,
        client_secret: "wrong",
        scope: "https://vault.azure.net/.default",
      },
    });
    expect(reply.status).toBe(401);
    expect(reply.body.error).toBe("invalid_client");
    expect((await call(vault, "GET", `/secrets/x?${v}`, { token: "forged" })).status).toBe(401);
  });

  it("requires api-version", async () => {
    const reply = await call(vault, "GET", "/secrets/x", { token });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe("BadParameter");
  });

  it("keeps versions, soft-deletes, answers 409 for a deleted name, and frees it on purge", async () => {
    const first = await call(vault, "PUT", `/secrets/Wire-Test?${v}`, {
      token,
      body: { value: "one", tags: { a: "b" } },
    });
    const second = await call(vault, "PUT", `/secrets/wire-test?${v}`, { token, body: { value: "two" } });
    expect(first.status).toBe(200);
    // Names are case-insensitive and keep their first spelling.
    expect(second.body.id).toMatch(/\/secrets\/Wire-Test\/[0-9a-f]{32}$/);
    const oldVersion = first.body.id.split("/").at(-1);
    expect((await call(vault, "GET", `/secrets/wire-test/${oldVersion}?${v}`, { token })).body.value).toBe("one");
    expect((await call(vault, "GET", `/secrets/wire-test/?${v}`, { token })).body.value).toBe("two");
    expect((await call(vault, "GET", `/secrets/wire-test/versions?${v}`, { token })).body.value).toHaveLength(2);

    const deleted = await call(vault, "DELETE", `/secrets/wire-test?${v}`, { token });
    expect(deleted.body.recoveryId).toBe(`${vault.endpoint}/deletedsecrets/Wire-Test`);
    expect((await call(vault, "GET", `/secrets/wire-test?${v}`, { token })).body.error.code).toBe("SecretNotFound");
    const conflict = await call(vault, "PUT", `/secrets/wire-test?${v}`, { token, body: { value: "three" } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe("Conflict");

    expect((await call(vault, "DELETE", `/deletedsecrets/wire-test?${v}`, { token })).status).toBe(204);
    expect((await call(vault, "GET", `/deletedsecrets/wire-test?${v}`, { token })).status).toBe(404);
    expect((await call(vault, "PUT", `/secrets/wire-test?${v}`, { token, body: { value: "three" } })).status).toBe(200);
  });

  it("recovers a deleted secret with its versions and updates properties without a value", async () => {
    await call(vault, "PUT", `/secrets/recoverable?${v}`, { token, body: { value: "kept" } });
    await call(vault, "DELETE", `/secrets/recoverable?${v}`, { token });
    const recovered = await call(vault, "POST", `/deletedsecrets/recoverable/recover?${v}`, { token });
    expect(recovered.status).toBe(200);
    expect(recovered.body.value).toBeUndefined();
    const updated = await call(vault, "PATCH", `/secrets/recoverable/?${v}`, {
      token,
      body: { contentType: "text/plain", tags: { env: "prod" } },
    });
    expect(updated.body).toMatchObject({ contentType: "text/plain", tags: { env: "prod" } });
    expect((await call(vault, "GET", `/secrets/recoverable?${v}`, { token })).body.value).toBe("kept");
  });

  it("refuses to get a disabled secret (403 Forbidden, inner SecretDisabled) and enables the version a PUT adds", async () => {
    const first = await call(vault, "PUT", `/secrets/switched-off?${v}`, {
      token,
      body: { value: "off", attributes: { enabled: false } },
    });
    expect(first.body.attributes.enabled).toBe(false);
    const version = first.body.id.split("/").at(-1);
    for (const path of [`/secrets/switched-off/?${v}`, `/secrets/switched-off/${version}?${v}`]) {
      const refused = await call(vault, "GET", path, { token });
      expect(refused.status).toBe(403);
      expect(refused.body).toEqual({
        error: {
          code: "Forbidden",
          message: "Operation get is not allowed on a disabled secret.",
          innererror: { code: "SecretDisabled" },
        },
      });
    }
    // Listing still shows it, disabled; properties can still be changed.
    const versions = await call(vault, "GET", `/secrets/switched-off/versions?${v}`, { token });
    expect(versions.body.value[0].attributes.enabled).toBe(false);

    const second = await call(vault, "PUT", `/secrets/switched-off?${v}`, { token, body: { value: "on" } });
    expect(second.body.attributes.enabled).toBe(true);
    expect((await call(vault, "GET", `/secrets/switched-off/?${v}`, { token })).body.value).toBe("on");
    expect((await call(vault, "GET", `/secrets/switched-off/${version}?${v}`, { token })).status).toBe(403);
    await call(vault, "PATCH", `/secrets/switched-off/${version}?${v}`, {
      token,
      body: { attributes: { enabled: true } },
    });
    expect((await call(vault, "GET", `/secrets/switched-off/${version}?${v}`, { token })).body.value).toBe("off");
  });

  it("refuses values above Key Vault's 25 KB limit", async () => {
    const reply = await call(vault, "PUT", `/secrets/big?${v}`, { token, body: { value: "x".repeat(25 * 1024 + 1) } });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe("BadParameter");
    expect(
      (await call(vault, "PUT", `/secrets/big?${v}`, { token, body: { value: "x".repeat(25 * 1024) } })).status,
    ).toBe(200);
  });

  it("refuses names outside 0-9a-zA-Z- with BadParameter", async () => {
    const reply = await call(vault, "PUT", `/secrets/has_underscore?${v}`, { token, body: { value: "x" } });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe("BadParameter");
  });

  it("injects throttling with Retry-After and counts calls", async () => {
    vault.faults.resetCalls();
    vault.faults.set([{ operation: "GetSecret", kind: "throttle", retryAfterSeconds: 7, times: 1 }]);
    const throttled = await call(vault, "GET", `/secrets/recoverable?${v}`, { token });
    expect(throttled.status).toBe(429);
    expect(throttled.headers["retry-after"]).toBe("7");
    expect((await call(vault, "GET", `/secrets/recoverable?${v}`, { token })).status).toBe(200);
    expect((await call(vault, "GET", "/admin/calls")).body).toEqual({ GetSecret: 2 });
  });
});
