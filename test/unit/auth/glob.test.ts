import { describe, expect, it } from "vitest";
import { compileGlob, Identity, rulesSchema } from "../../../src/auth/identity.js";

// Each row: a rule's glob, a name a caller might send, and whether the rule lets it through.
// Read as an attacker would: every "false" row is a name someone will try.
const TABLE: ReadonlyArray<readonly [glob: string, name: string, allowed: boolean]> = [
  // Anchored at the start: a rule for app/* says nothing about names that merely contain it.
  ["app/*", "app/x", true],
  ["app/*", "evil/app/x", false],
  ["app/*", "/app/x", false],
  ["app/*", " app/x", false],
  ["OPENAI_*", "X_OPENAI_KEY", false],
  // Anchored at the end: no suffix rides along.
  ["app/x", "app/x", true],
  ["app/x", "app/xy", false],
  ["app/x", "app/x/y", false],
  ["app/x", "app/x\n", false],
  ["app", "app/x", false],
  ["*/key", "team/key", true],
  ["*/key", "team/key/more", false],
  // `*` crosses `/` (names are flat strings, not paths) and may match nothing.
  ["app/*", "app/a/b/c", true],
  ["app/*", "app/", true],
  ["app/*", "app", false],
  ["app/*", "appx/y", false],
  ["*", "", true],
  ["*", "anything/at/all", true],
  ["a*b", "ab", true],
  ["a*b", "a/x/b", true],
  ["a*b", "a/x/bc", false],
  // `*` matches line terminators too (the name validator refuses them; the matcher must not rely on that).
  ["a*b", "a\nb", true],
  // `?` is exactly one character.
  ["key-?", "key-1", true],
  ["key-?", "key-/", true],
  ["key-?", "key-", false],
  ["key-?", "key-12", false],
  ["??", "ab", true],
  ["??", "a", false],
  ["??", "abc", false],
  // Every regular-expression metacharacter stands for itself.
  ["a.b", "a.b", true],
  ["a.b", "axb", false],
  ["a+", "a+", true],
  ["a+", "aa", false],
  ["^app", "^app", true],
  ["^app", "app", false],
  ["app$", "app$", true],
  ["app$", "app", false],
  ["(a|b)", "(a|b)", true],
  ["(a|b)", "a", false],
  ["a|b", "a", false],
  ["a|b", "b", false],
  ["[ab]", "[ab]", true],
  ["[ab]", "a", false],
  ["[^x]", "y", false],
  ["a{2}", "a{2}", true],
  ["a{2}", "aa", false],
  ["a\\d", "a\\d", true],
  ["a\\d", "a1", false],
  ["a\\", "a\\", true],
  ["\\*", "\\x", true],
  ["\\*", "*", false],
  ["(?=a)a", "a", false],
  ["(?=a)a", "(?=a)a", true],
  ["a-z", "a-z", true],
  ["a-z", "b", false],
  ["a/b", "a/b", true],
  // Unicode: `?` is one character, not one UTF-16 unit; no normalisation, no folding.
  ["key-?", "key-😀", true],
  ["key-??", "key-😀", false],
  ["key-?", "key-😀😀", false],
  ["?", "😀", true],
  ["ключ/?", "ключ/я", true],
  ["ключ/*", "КЛЮЧ/я", false],
  ["café", "café", true],
  ["café", "cafe\u0301", false],
  ["e?", "e\u0301", true],
  ["😀*", "😀x", true],
  ["😀*", "\ud83dx", false],
  // Case-sensitive, Unicode folding included.
  ["OPENAI_*", "OPENAI_API_KEY", true],
  ["OPENAI_*", "openai_api_key", false],
  ["openai_*", "OPENAI_API_KEY", false],
  ["k", "\u212a", false],
  ["s", "\u017f", false],
  ["straße", "STRASSE", false],
];

describe("rule globs (compileGlob)", () => {
  it.each(TABLE)("%j against %j → %s", (glob, name, allowed) => {
    expect(compileGlob(glob).test(name)).toBe(allowed);
  });

  it("answers the same however often a compiled rule is asked (no global-flag state)", () => {
    const rule = compileGlob("app/*");
    expect([rule.test("app/x"), rule.test("app/x"), rule.test("evil/app/x"), rule.test("app/y")]).toEqual([
      true,
      true,
      false,
      true,
    ]);
  });
});

describe("an identity's rules", () => {
  it.each(TABLE)("read/write/delete rule %j against %j → %s", (glob, name, allowed) => {
    const identity = new Identity("t", rulesSchema.parse({ read: [glob], write: [glob], delete: [glob] }));
    expect([identity.mayRead(name), identity.mayWrite(name), identity.mayDelete(name)]).toEqual([
      allowed,
      allowed,
      allowed,
    ]);
  });

  it("keeps the three lists apart and denies what no list names", () => {
    const identity = new Identity("t", rulesSchema.parse({ read: ["r/*"], write: ["w/*"], delete: ["d/*"] }));
    expect([identity.mayRead("r/x"), identity.mayWrite("r/x"), identity.mayDelete("r/x")]).toEqual([
      true,
      false,
      false,
    ]);
    expect([identity.mayRead("w/x"), identity.mayWrite("w/x"), identity.mayDelete("w/x")]).toEqual([
      false,
      true,
      false,
    ]);
    expect([identity.mayRead("d/x"), identity.mayWrite("d/x"), identity.mayDelete("d/x")]).toEqual([
      false,
      false,
      true,
    ]);
    const none = new Identity("none", rulesSchema.parse({ read: [], write: [], delete: [] }));
    expect([none.mayRead(""), none.mayRead("x"), none.mayWrite("x"), none.mayDelete("x")]).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});
