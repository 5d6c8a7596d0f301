import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../helpers/server.js";

/** Every module specifier the shipped code imports (static or dynamic), under `dir`. */
function importedSpecifiers(dir: string): Set<string> {
  const specifiers = new Set<string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.(ts|mjs|js)$/.test(entry.name)) continue;
    const source = readFileSync(join(entry.parentPath, entry.name), "utf8");
    for (const match of source.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)"([^"./][^"]*)"/g))
      specifiers.add(match[1]!);
  }
  return specifiers;
}

/** The package a specifier names: `@scope/name` or `name`, without a subpath. */
const packageOf = (specifier: string) =>
  specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");

// A runtime dependency is installed in every deployment (and the container image): one that
// nothing ships with is dead weight and attack surface.
describe("package.json dependencies", () => {
  it("are each imported by the server, the generated code or the bin", () => {
    const { dependencies } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    const used = new Set(
      [...["src", "gen", "bin"].flatMap((dir) => [...importedSpecifiers(join(ROOT, dir))])].map(packageOf),
    );
    expect(Object.keys(dependencies).filter((name) => !used.has(name))).toEqual([]);
  });
});
