import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/server.js";
import { ROOT_CREDENTIALS } from "./aws-common/endpoint.js";

const CLI = join(ROOT, "dist", "test", "emulators", "cli.js");

/** Starts `npm run emulator -- NAME --port 0` (its built entry) and returns the JSON line it prints. */
function startFromCommandLine(name: string): Promise<{ line: Record<string, any>; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [CLI, name, "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    let buffer = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      const newline = buffer.indexOf("\n");
      if (newline >= 0) {
        resolve({
          line: JSON.parse(buffer.slice(0, newline)) as Record<string, any>,
          stop: async () => {
            child.kill("SIGTERM");
            await exited;
          },
        });
      }
    });
    child.once("exit", (code) => reject(new Error(`emulator ${name} exited with ${code}`)));
  });
}

/** A Vault API call against the emulator: status and parsed body. */
async function vault(endpoint: string, method: string, path: string, options: { token?: string; body?: unknown } = {}) {
  const response = await fetch(`${endpoint}/v1/${path}`, {
    method,
    headers: options.token ? { "x-vault-token": options.token } : {},
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? undefined : (JSON.parse(text) as any) };
}

describe("emulators from the command line", () => {
  // AWS's two back ends share one endpoint emulator (aws-common/endpoint.ts), started by either name.
  for (const name of ["aws-secrets-manager", "aws-kms"]) {
    it(`starts ${name} and prints one JSON line with its endpoint`, async () => {
      const { line, stop } = await startFromCommandLine(name);
      try {
        expect(line).toMatchObject({
          emulator: name,
          endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
          accessKeyId: ROOT_CREDENTIALS.accessKeyId,
        });
        expect((await fetch(`${line.endpoint}/__admin/calls`)).status).toBe(200);
      } finally {
        await stop();
      }
    });
  }

  it("starts hashicorp-vault and prints one JSON line with the endpoint and a root token", async () => {
    const { line, stop } = await startFromCommandLine("hashicorp-vault");
    try {
      expect(line).toMatchObject({
        emulator: "hashicorp-vault",
        endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      });
      const health = await vault(line.endpoint, "GET", "sys/health");
      expect(health).toMatchObject({ status: 200, body: { initialized: true, sealed: false } });
      const login = await vault(line.endpoint, "POST", "auth/approle/login", {
        body: { role_id: line.approle.roleId, secret_id: line.approle.secretId },
      });
      expect(login.body.auth.policies).toContain("secretgate");
      expect((await vault(line.endpoint, "GET", "auth/token/lookup-self", { token: line.rootToken })).status).toBe(200);
    } finally {
      await stop();
    }
  });

  for (const name of ["google-secret-manager", "google-kms"]) {
    it(`starts ${name} and prints one JSON line with its endpoint`, async () => {
      const { line, stop } = await startFromCommandLine(name);
      try {
        expect(line).toMatchObject({ emulator: name, endpoint: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
        expect(await (await fetch(`${line.admin}/calls`)).json()).toEqual({});
      } finally {
        await stop();
      }
    });
  }

  it("starts azure-key-vault over HTTPS and prints its vault URI, app registration and CA file", async () => {
    const { line, stop } = await startFromCommandLine("azure-key-vault");
    try {
      expect(line).toMatchObject({
        emulator: "azure-key-vault",
        endpoint: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/),
      });
      expect(line.caFile).toMatch(/ca\.pem$/);
      expect(line.clientSecret).toBeTypeOf("string");
    } finally {
      await stop();
    }
  });

  it("starts cyberark and prints its endpoint and logins", async () => {
    const { line, stop } = await startFromCommandLine("cyberark");
    try {
      expect(line).toMatchObject({
        emulator: "cyberark",
        endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      });
      expect(line.logins[0]).toMatchObject({ account: "default", login: "host/secretgate" });
      const authn = await fetch(
        `${line.endpoint}/authn/default/${encodeURIComponent("host/secretgate")}/authenticate`,
        {
          method: "POST",
          body: line.logins[0].apiKey,
        },
      );
      expect(authn.status).toBe(200);
    } finally {
      await stop();
    }
  });
});
