import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../helpers/server.js";

// Who may do what is decided in one place (src/core/access.ts): the findings of issue 23 were
// handlers that each re-derived it, and got it slightly wrong. These pin the shape: nothing else
// in src/ asks an identity's rules, and the dispatcher reaches the services' typed
// implementations without casting.

/** Where the rules are defined (src/auth/identity.ts) and the one place that applies them. */
const DECIDERS = new Set(["src/auth/identity.ts", "src/core/access.ts"]);
/** An identity's rules, asked directly: what only the access decision may do. */
const RULE_QUESTIONS =
  /\bidentity\??\.(mayUse|mayActFor|mayRead|mayWrite|mayDelete|mayInlineTeamSettings|allTeams|admin)\b/g;

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  );
}

describe("one access decision", () => {
  it("the admin check existed in four shapes (two requireAdmin, inline checks in secret-service.ts and migration.ts): now no module but the access decision asks an identity's rules", () => {
    const askers: string[] = [];
    for (const file of sources("src")) {
      const path = relative(ROOT, join(ROOT, file));
      if (DECIDERS.has(path)) continue;
      for (const match of readFileSync(join(ROOT, file), "utf8").matchAll(RULE_QUESTIONS))
        askers.push(`${path}: ${match[0]}`);
    }
    expect(askers).toEqual([]);
    const access = readFileSync(join(ROOT, "src/core/access.ts"), "utf8");
    expect(access.match(/\bidentity\.admin\b/g)).toHaveLength(1);
  });

  it("sixteen handlers were keyed by string in the dispatcher with `as never` casts: now none is cast", () => {
    const dispatcher = readFileSync(join(ROOT, "src/server/dispatcher.ts"), "utf8");
    expect(dispatcher).not.toMatch(/\bas never\b/);
    expect(dispatcher).not.toMatch(/\["read",/);
  });
});
