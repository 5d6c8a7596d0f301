#!/usr/bin/env node
// Runs a command under Node.js >= 22. On an older Node (a fresh machine ships Node 20), it
// installs Node 24 from the npm registry into .cache/node24 once and puts it first on PATH,
// so `npm start` and `npm test` work without a separate set-up step.
// Written to run on Node 18+, so it uses nothing newer.
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const MIN_MAJOR = 22;
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error("usage: with-node24.mjs COMMAND [ARGS...]");
  process.exit(2);
}

const env = { ...process.env };
const major = Number(process.versions.node.split(".")[0]);
if (major < MIN_MAJOR) {
  const prefix = join(root, ".cache", "node24");
  const bin = join(prefix, "node_modules", ".bin");
  if (!existsSync(join(bin, "node"))) {
    console.error(
      `secretgate: Node ${process.versions.node} is older than ${MIN_MAJOR}; installing Node 24 from npm into .cache/node24 (once)`,
    );
    execFileSync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", prefix, "node@24"], {
      stdio: ["ignore", "inherit", "inherit"],
    });
  }
  env.PATH = `${bin}:${env.PATH ?? ""}`;
}

const child = spawn(command, args, { stdio: "inherit", env });
// Forward termination signals so `npm start` stops the server gracefully.
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (error) => {
  console.error(`secretgate: cannot run ${command}: ${error.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
