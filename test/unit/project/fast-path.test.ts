import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../helpers/server.js";

// The HTTP port's own unary path replaces parts of connect-node and protobuf-es for speed. They
// live in src/server/fast-path/, whose README says, for each file, what it replaces, the figure
// that justified it, and the differential test that keeps it answering as the library does.

const FOLDER = join(ROOT, "src", "server", "fast-path");

describe("src/server/fast-path/", () => {
  it("holds the fast paths, each described in its README with its figure and the test that guards it", () => {
    expect(existsSync(join(FOLDER, "README.md"))).toBe(true);
    const readme = readFileSync(join(FOLDER, "README.md"), "utf8");
    const files = readdirSync(FOLDER).filter((file) => file.endsWith(".ts"));
    expect(files).toEqual(expect.arrayContaining(["unary-calls.ts", "unary-answers.ts", "read-response-encoding.ts"]));
    for (const file of files) {
      const section = readme.split(/\n(?=## )/).find((part) => part.startsWith(`## \`${file}\``));
      expect(section, `README has no section "## \`${file}\`"`).toBeDefined();
      expect(section, `${file}: no measured figure`).toMatch(/\d[\d,.]* (req\/s|µs|%)/);
      const tests = [...section!.matchAll(/`(test\/[^`]+\.test\.ts)`/g)].map((match) => match[1]!);
      expect(tests.length, `${file}: no differential test named`).toBeGreaterThan(0);
      for (const test of tests) expect(existsSync(join(ROOT, test)), test).toBe(true);
    }
  });
});
