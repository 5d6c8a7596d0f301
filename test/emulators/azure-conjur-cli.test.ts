import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const CLI = join(import.meta.dirname, "..", "..", "dist", "test", "emulators", "cli.js");

/** Starts `npm run emulator -- NAME --port 0` (its built entry) and returns the JSON line it prints. */
function startFromCommandLine(name: string): Promise<{ line: Record<string, any>; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [CLI, name, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
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

describe("emulators from the command line", () => {
  it("starts azure-key-vault over HTTPS and prints its vault URI, app registration and CA file", async () => {
    const { line, stop } = await startFromCommandLine("azure-key-vault");
    try {
      expect(line).toMatchObject({ emulator: "azure-key-vault", endpoint: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/) });
      expect(line.caFile).toMatch(/ca\.pem$/);
      expect(line.clientSecret).toBeTypeOf("string");
    } finally {
      await stop();
    }
  });

  it("starts conjur and prints its endpoint and logins", async () => {
    const { line, stop } = await startFromCommandLine("conjur");
    try {
      expect(line).toMatchObject({ emulator: "conjur", endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
      expect(line.logins[0]).toMatchObject({ account: "default", login: "host/secretgate" });
      const authn = await fetch(`${line.endpoint}/authn/default/${encodeURIComponent("host/secretgate")}/authenticate`, {
        method: "POST",
        body: line.logins[0].apiKey,
      });
      expect(authn.status).toBe(200);
    } finally {
      await stop();
    }
  });
});
