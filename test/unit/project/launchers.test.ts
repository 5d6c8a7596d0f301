import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { launchNodeArgs } from "../../helpers/launch.js";
import { ROOT } from "../../helpers/server.js";

// npm start, the bin and the container image each start node themselves; the V8 options that
// bound the server's memory (docs/performance.md, Memory) must be the same in all three.
describe("launchers", () => {
  const nodeArgs = launchNodeArgs();

  it("npm start caps V8's young generation", () => {
    expect(nodeArgs).toContain("--max-semi-space-size=8");
  });

  it("the bin's shebang gives node the same options as npm start, and runs", async () => {
    const bin = join(ROOT, "bin", "secretgate.mjs");
    const shebang = readFileSync(bin, "utf8").split("\n")[0]!;
    expect(shebang).toBe(`#!/usr/bin/env -S node ${nodeArgs.join(" ")}`);
    // Executed directly, as an installed `secretgate` command is: the kernel and env(1) parse the line.
    const { stdout } = await promisify(execFile)(bin, ["help"]);
    expect(stdout).toContain("usage: secretgate");
  });

  it("the image's entry point gives node the same options as npm start", () => {
    const entrypoint = /^ENTRYPOINT (.+)$/m.exec(readFileSync(join(ROOT, "Dockerfile"), "utf8"))?.[1];
    expect(JSON.parse(entrypoint ?? "null")).toEqual(["node", ...nodeArgs, "bin/secretgate.mjs"]);
  });
});
