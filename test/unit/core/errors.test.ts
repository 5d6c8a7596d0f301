import { describe, expect, it } from "vitest";
import { Code, invalidArgument, notFound, ServiceError } from "../../../src/core/errors.js";
import { validateSecretName } from "../../../src/core/names.js";

// Characters that end or break a line in a log viewer, a terminal or a JSON-lines consumer
// (JSON.stringify leaves C1 controls, U+2028 and U+2029 as they are).
const codePoint = (character: string) => `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
const LINE_BREAKERS = [
  "\u0085",
  "\u0080",
  "\u009b",
  "\u009f",
  "\u2028",
  "\u2029",
  "\u0000",
  "\n",
  "\r",
  "\u001b",
  "\u007f",
];

describe("error messages", () => {
  it.each(LINE_BREAKERS.map((character) => [codePoint(character), character]))(
    "escape %s wherever the message is made",
    (_label, character) => {
      const escaped = `\\u${character.codePointAt(0)!.toString(16).padStart(4, "0")}`;
      for (const error of [
        new ServiceError(Code.Unavailable, `back end said: a${character}b`),
        invalidArgument(`x${character}`),
        notFound(`${character}`),
      ]) {
        expect(error.message).not.toContain(character);
        expect(error.message).toContain(escaped);
      }
    },
  );

  it("escape what a name check echoes back", () => {
    try {
      validateSecretName("a\u2028b\u0085c", "names[0]");
      expect.unreachable();
    } catch (error) {
      expect((error as ServiceError).message).toBe(
        'names[0] "a\\u2028b\\u0085c" contains a control or line-separator character',
      );
    }
  });

  it("escape invisible formatting characters, astral ones included", () => {
    expect(new ServiceError(Code.NotFound, "a\u200bb\ufeffc\u202ed").message).toBe("a\\u200bb\\ufeffc\\u202ed");
    expect(new ServiceError(Code.NotFound, "tag\u{e0041}").message).toBe("tag\\u{e0041}");
  });

  it("leave every other character as it is, escaping nothing twice", () => {
    const text = 'name "ключ/密钥 🔑" and a tab escaped already: \\u0009, a quote " and a backslash \\';
    expect(new ServiceError(Code.NotFound, text).message).toBe(text);
    const once = new ServiceError(Code.NotFound, "a\u0085b").message;
    expect(new ServiceError(Code.NotFound, once).message).toBe(once);
  });
});
