import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ALLOCATOR_SCRIPT, launchEnvironment, launchNodeArgs } from "../../helpers/launch.js";
import { ROOT } from "../../helpers/server.js";

// npm start, the bin and the container image each start node themselves; the V8 options that
// bound the server's memory (docs/performance.md, Memory) must be the same in all three, and npm
// start and the image run it with the same allocator (scripts/with-jemalloc.sh).
describe("launchers", () => {
  const nodeArgs = launchNodeArgs();

  it("npm start caps V8's young generation", () => {
    expect(nodeArgs).toContain("--max-semi-space-size=8");
  });

  it("npm start turns off V8's allocation-site pretenuring (docs/performance.md, Memory)", () => {
    // Per-call objects alive at one scavenge made V8 allocate them in the old generation, where,
    // dead, they kept the calls after them alive through every scavenge until a mark-compact.
    expect(nodeArgs).toContain("--no-allocation-site-pretenuring");
  });

  it("the bin's shebang gives node the same options as npm start, and runs", async () => {
    const bin = join(ROOT, "bin", "secretgate.mjs");
    const shebang = readFileSync(bin, "utf8").split("\n")[0]!;
    expect(shebang).toBe(`#!/usr/bin/env -S node ${nodeArgs.join(" ")}`);
    // Executed directly, as an installed `secretgate` command is: the kernel and env(1) parse the line.
    const { stdout } = await promisify(execFile)(bin, ["help"]);
    expect(stdout).toContain("usage: secretgate");
  });

  it("the image's entry point gives node the same options and allocator as npm start, and installs jemalloc", () => {
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    const entrypoint = /^ENTRYPOINT (.+)$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(entrypoint ?? "null")).toEqual([
      "sh",
      ALLOCATOR_SCRIPT,
      "node",
      ...nodeArgs,
      "bin/secretgate.mjs",
    ]);
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
    expect(finalStage).toContain(`COPY ${ALLOCATOR_SCRIPT} ./${ALLOCATOR_SCRIPT}`);
    expect(finalStage).toMatch(/apt-get install [^\n]*libjemalloc2/);
  });

  it("npm start runs the server with jemalloc, which it gives back freed memory with, when the system has it", async () => {
    // libjemalloc2 is one of npm test's prerequisites (scripts/prerequisites.txt), as it is the image's.
    expect(readFileSync(join(ROOT, "scripts", "prerequisites.txt"), "utf8")).toMatch(/^libjemalloc2$/m);
    expect(launchEnvironment()).toEqual({
      LD_PRELOAD: expect.stringMatching(/\/libjemalloc\.so\.2$/),
      MALLOC_CONF: "background_thread:true",
    });
    const maps = "process.stdout.write(require('fs').readFileSync('/proc/self/maps', 'utf8'))";
    const run = (env: Record<string, string>) =>
      promisify(execFile)("sh", [join(ROOT, ALLOCATOR_SCRIPT), process.execPath, "-e", maps], {
        env: { PATH: process.env.PATH ?? "", ...env },
      });
    expect((await run({})).stdout).toContain("libjemalloc.so.2");
    // An operator can keep glibc's allocator.
    expect((await run({ SECRETGATE_ALLOCATOR: "glibc" })).stdout).not.toContain("libjemalloc");
  });
});
