import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Finished, run } from "../../helpers/run-process.js";
import { ROOT } from "../../helpers/server.js";

const LIST = readFileSync(join(ROOT, "scripts", "prerequisites.txt"), "utf8");
const PACKAGES = LIST.replace(/#.*/g, "").split(/\s+/).filter(Boolean);
const TEST_COMMAND = (
  JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }
).scripts.test!;
const IS_ROOT = process.getuid?.() === 0;

const sandboxes: string[] = [];
afterAll(() => {
  for (const dir of sandboxes) rmSync(dir, { recursive: true, force: true });
});

interface Sandbox {
  dir: string;
  /** Each stubbed command that ran, as `name args…`. */
  ran(): string[];
}

/**
 * A copy of what `npm test` runs first, readable by any user, with a bin directory first on PATH:
 * a `dpkg-query` that reports `installed` as the installed packages, and stubs that record any
 * `apt-get`, `node` or `npm` call (`npm test` continues with node, and node with npm).
 */
function sandbox(installed: readonly string[]): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), "secretgate-prerequisites-"));
  sandboxes.push(dir);
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, "scripts"));
  for (const file of ["package.json", "scripts/prerequisites.sh", "scripts/prerequisites.txt"])
    cpSync(join(ROOT, file), join(dir, file));
  const bin = join(dir, "bin");
  mkdirSync(bin);
  const log = join(dir, "ran");
  writeFileSync(log, "");
  chmodSync(log, 0o666);
  const stub = (name: string, body: string) => writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  writeFileSync(join(dir, "installed"), installed.map((name) => `install ok installed ${name}\n`).join(""));
  // Like dpkg-query -W: the known packages are printed, and an unknown one fails the call.
  stub("dpkg-query", `cat '${join(dir, "installed")}'\n[ ${installed.length} -eq ${PACKAGES.length} ]`);
  for (const name of ["apt-get", "node", "npm"])
    stub(name, `echo "${name} $* (DEBIAN_FRONTEND=\${DEBIAN_FRONTEND:-})" >> '${log}'`);
  return { dir, ran: () => readFileSync(log, "utf8").split("\n").filter(Boolean) };
}

/** Runs `npm test`'s command line in the sandbox, with nothing of this process's environment. */
function runTestCommand(box: Sandbox, user: "nobody" | "root"): Promise<Finished> {
  const env = ["env", "-i", `PATH=${join(box.dir, "bin")}:/usr/bin:/bin`, `HOME=${box.dir}`, "sh", "-c", TEST_COMMAND];
  // runuser needs root; a test run without root is already a user without it.
  const command =
    user === "nobody"
      ? IS_ROOT
        ? ["runuser", "-u", "nobody", "--", ...env]
        : env
      : IS_ROOT
        ? env
        : ["unshare", "--map-root-user", ...env];
  return run(command[0]!, command.slice(1), { cwd: box.dir });
}

describe("npm test's Debian prerequisites", () => {
  it("stop a user without root before anything runs, with the one command that installs them", async () => {
    const box = sandbox([]);
    const result = await runTestCommand(box, "nobody");
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      "secretgate: the tests need Debian packages that are not installed. As root, run:\n" +
        `  apt-get update && apt-get install -y --no-install-recommends ${PACKAGES.join(" ")}\n`,
    );
    expect(box.ran()).toEqual([]);
  });

  it("are installed with apt-get as root, only the missing ones, and then the tests run", async () => {
    const box = sandbox(PACKAGES.filter((name) => name !== "nghttp2-client" && name !== "chromium"));
    const result = await runTestCommand(box, "root");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe("secretgate: installing Debian packages: nghttp2-client chromium\n");
    expect(box.ran()).toEqual([
      "apt-get update -qq (DEBIAN_FRONTEND=noninteractive)",
      "apt-get install -y -qq --no-install-recommends nghttp2-client chromium (DEBIAN_FRONTEND=noninteractive)",
      "node scripts/with-node24.mjs npm run test:all (DEBIAN_FRONTEND=)",
    ]);
  });

  it("let the tests run at once when every package is installed, as any user", async () => {
    const box = sandbox(PACKAGES);
    const result = await runTestCommand(box, "nobody");
    expect(result).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(box.ran()).toEqual(["node scripts/with-node24.mjs npm run test:all (DEBIAN_FRONTEND=)"]);
  });

  it("are one list, which .ci/run installs through the same script and docs/testing.md explains package by package", () => {
    expect(PACKAGES).toEqual(expect.arrayContaining(["nghttp2-client", "chromium"]));
    const ci = readFileSync(join(ROOT, ".ci", "run"), "utf8");
    expect(ci).toContain("sh scripts/prerequisites.sh");
    for (const name of PACKAGES) expect(ci, `.ci/run names ${name} itself`).not.toMatch(new RegExp(`\\b${name}\\b`));
    const testing = readFileSync(join(ROOT, "docs", "testing.md"), "utf8");
    const table = testing.slice(testing.indexOf("| Debian packages | why |"));
    const rows = table.slice(0, table.indexOf("\n\n")).split("\n").slice(2);
    const documented = rows.flatMap((row) => [...row.split("|")[1]!.matchAll(/`([^`]+)`/g)].map((match) => match[1]!));
    expect(documented.sort()).toEqual([...PACKAGES].sort());
  });
});
