import { describe, expect, it } from "vitest";
import { Code, ServiceError } from "../../../src/core/errors.js";
import { stripEnvReference, validateSecretName, validateTeamId } from "../../../src/core/names.js";

/** A name as a test title can show it: everything outside printable ASCII as an escape. */
const visible = (name: string) =>
  JSON.stringify(name).replace(/[^\x20-\x7e]/gu, (character) => `\\u{${character.codePointAt(0)!.toString(16)}}`);

describe("validateSecretName", () => {
  it.each(["OPENAI_API_KEY", "litellm/virtual-key-1", "a.b", "ключ/密钥", "x".repeat(512), "..a/b..", "a/.hidden"])(
    "accepts %j",
    (name) => {
      expect(() => validateSecretName(name)).not.toThrow();
    },
  );

  it.each([
    ["", "name must not be empty"],
    ["é".repeat(257), "name is 514 bytes long"],
    ["a\u0000b", "control"],
    ["a\nb", "control"],
    ["a\u007fb", "control"],
    ["a\u0085b", "control"],
    ["a\u2029b", "control"],
    ["..", "'..' path segment"],
    ["a/./b", "'.' path segment"],
    ["/abs", "empty path segment"],
    ["trailing/", "empty path segment"],
  ])("refuses %j with INVALID_ARGUMENT", (name, message) => {
    try {
      validateSecretName(name, "name");
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ServiceError);
      expect((error as ServiceError).code).toBe(Code.InvalidArgument);
      expect((error as ServiceError).message).toContain(message);
    }
  });

  it.each(
    [
      [" ", "made only of white space"],
      ["   ", "made only of white space"],
      ["\u00a0", "made only of white space"],
      ["\u3000\u2003 ", "made only of white space"],
      ["\ufeffOPENAI_API_KEY", "U+FEFF"],
      ["OPENAI\ufeff_API_KEY", "U+FEFF"],
      ["OPENAI_API_KEY\u200b", "U+200B"],
      ["a\u200cb", "U+200C"],
      ["a\u200db", "U+200D"],
      ["a\u2060b", "U+2060"],
      ["\u200b", "U+200B"],
      // Bidirectional controls make a name display as another (the same trick as "Trojan Source").
      ["key\u202egpj.exe", "U+202E"],
      ["a\u2066b\u2069", "U+2066"],
      ["a\u200fb", "U+200F"],
    ].map(([name, message]) => [visible(name!), name!, message!]),
  )("refuses %s as invisible or blank, naming the field", (_label, name, message) => {
    for (const field of ["name", "names[3]", "new_name"]) {
      try {
        validateSecretName(name, field);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(ServiceError);
        expect((error as ServiceError).code).toBe(Code.InvalidArgument);
        expect((error as ServiceError).message).toContain(message);
        expect((error as ServiceError).message.startsWith(`${field} `)).toBe(true);
      }
    }
  });

  it.each(["a b", " leading", "trailing ", "a\u00a0b", "emoji 🔑", "עברית/ключ"])(
    "accepts white space and other scripts inside a name: %j",
    (name) => {
      expect(() => validateSecretName(name)).not.toThrow();
    },
  );

  it("strips LiteLLM's os.environ/ prefix only at the start", () => {
    expect(stripEnvReference("os.environ/OPENAI_API_KEY")).toBe("OPENAI_API_KEY");
    expect(stripEnvReference("x/os.environ/Y")).toBe("x/os.environ/Y");
  });

  it("checks team ids", () => {
    expect(() => validateTeamId("team-1_a.b:c@d")).not.toThrow();
    expect(() => validateTeamId("")).toThrow("team_id");
    expect(() => validateTeamId("a/b")).toThrow("team_id");
  });
});
