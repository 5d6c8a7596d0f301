import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../helpers/server.js";

// `npm test` lints and checks the formatting of every folder of code (Biome, biome.jsonc), and
// the formatter's width holds in src/: Biome does not break strings or comments, so those are
// broken by hand.

const FOLDERS = ["src", "test", "console", "bench", "scripts"];

const packageJson = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
const biomeText = readFileSync(join(ROOT, "biome.jsonc"), { encoding: "utf8", flag: "r" });

/** biome.jsonc without its comments (none of its strings holds `//`). */
function biomeConfig(): {
  formatter?: { lineWidth?: number };
  linter?: { rules?: Record<string, unknown> };
  files?: { includes?: string[] };
} {
  return JSON.parse(biomeText.replace(/^\s*\/\/.*$/gm, "").replace(/,(\s*[}\]])/g, "$1"));
}

describe("lint and format", () => {
  it("runs Biome's check over every folder of code in npm test", () => {
    expect(packageJson.scripts["test:all"]).toContain("npm run lint");
    const lint = packageJson.scripts.lint ?? "";
    expect(lint).toMatch(/^biome ci\b/);
    for (const folder of FOLDERS) expect(lint.split(/\s+/)).toContain(folder);
  });

  it("keeps Biome's recommended rules, turning one off only with a reason written above it", () => {
    const config = biomeConfig();
    expect((config.linter?.rules as { preset?: string } | undefined)?.preset).toBe("recommended");
    const lines = biomeText.split("\n");
    const unexplained = lines.flatMap((line, index) =>
      /:\s*"off"/.test(line) && !/^\s*\/\/\s*\S/.test(lines[index - 1] ?? "") ? [line.trim()] : [],
    );
    expect(unexplained).toEqual([]);
  });

  it("has no line in src/ longer than the formatter's width", () => {
    const width = biomeConfig().formatter?.lineWidth ?? 80;
    const long = readdirSync(join(ROOT, "src"), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
      .flatMap((entry) => {
        const path = join(entry.parentPath, entry.name);
        return readFileSync(path, "utf8")
          .split("\n")
          .flatMap((line, index) =>
            [...line].length > width ? [`${relative(ROOT, path)}:${index + 1} (${[...line].length})`] : [],
          );
      });
    expect(long).toEqual([]);
  });
});
