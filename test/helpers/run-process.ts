import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { ROOT } from "./server.js";

// Debian's interpreter carries python3-grpcio, python3-protobuf, python3-pytest, python3-hvac and
// python3-azure; a `python3` earlier on PATH (pyenv, a virtualenv) may not. SECRETGATE_PYTHON overrides.
export const PYTHON =
  process.env.SECRETGATE_PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (no shell), collecting its output; from the repository's root unless `cwd` says otherwise. */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}
