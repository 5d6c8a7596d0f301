import { describe, expect, it } from "vitest";
import { Code, ServiceError } from "../../src/core/errors.js";
import { stripEnvReference, validateSecretName, validateTeamId } from "../../src/core/names.js";

describe("validateSecretName", () => {
  it.each(["OPENAI_API_KEY", "litellm/virtual-key-1", "a.b", "ключ/密钥", "x".repeat(512), "..a/b..", "a/.hidden"])("accepts %j", (name) => {
    expect(() => validateSecretName(name)).not.toThrow();
  });

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
