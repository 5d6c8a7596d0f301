import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createSecretClient, type SecretClient } from "../../clients/typescript/src/index.js";
import { TestServer } from "../helpers/server.js";

export const ROOT = join(import.meta.dirname, "..", "..");

// Debian's interpreter carries python3-grpcio, python3-protobuf and python3-pytest; a `python3` earlier
// on PATH (pyenv, a virtualenv) may not. SECRETGATE_PYTHON overrides.
export const PYTHON = process.env.SECRETGATE_PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

/**
 * A server started with an admin token, which every client under test sends on every call, and a
 * TypeScript client holding that token for setting up and checking state.
 */
export async function startServerWithToken(): Promise<{ server: TestServer; token: string; admin: SecretClient }> {
  const token = randomBytes(24).toString("base64url");
  const server = await TestServer.start({ env: { SECRETGATE_ADMIN_TOKEN: token } });
  return { server, token, admin: createSecretClient(`http://${server.grpcAddress}`, { token }) };
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (no shell), collecting its output. */
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}
