import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addressOf, checkRequestedBackend } from "../../../src/core/backend-reference.js";
import { Code, ServiceError } from "../../../src/core/errors.js";

const BACKENDS = new Set(["aws-us", "vault-eu", "local"]);
const known = (backend: string) => BACKENDS.has(backend);

function refusal(run: () => unknown): ServiceError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ServiceError);
  expect((caught as ServiceError).code).toBe(Code.InvalidArgument);
  return caught as ServiceError;
}

describe("addressOf: <backend>://<name>", () => {
  it("leaves a plain name alone when the call names no back end", () => {
    expect(addressOf("OPENAI_API_KEY", "names[0]", "", known)).toBeUndefined();
    // Names back ends accept today, colons and slashes included, are never references.
    for (const name of ["a:b", "arn:aws:secretsmanager:us-east-1:1:secret:x", "team/a:b/c", "x:/y"])
      expect(addressOf(name, "name", "", known)).toBeUndefined();
  });

  it("splits a reference into its back end and name", () => {
    expect(addressOf("aws-us://OPENAI_API_KEY", "names[0]", "", known)).toEqual({
      backend: "aws-us",
      name: "OPENAI_API_KEY",
    });
    expect(addressOf("vault-eu://litellm/team-a/key", "name", "", known)).toEqual({
      backend: "vault-eu",
      name: "litellm/team-a/key",
    });
  });

  it("addresses a plain name to the request's backend field, and accepts a reference that agrees with it", () => {
    expect(addressOf("KEY", "name", "vault-eu", known)).toEqual({ backend: "vault-eu", name: "KEY" });
    expect(addressOf("vault-eu://KEY", "name", "vault-eu", known)).toEqual({ backend: "vault-eu", name: "KEY" });
  });

  it.each([
    ["://KEY", "no back end before"],
    ["aws-us://", "no name after"],
    ["aws-us://a://b", "more than one"],
    ["aws-us://://", "more than one"],
    ["gcp-eu://KEY", "gcp-eu, which is not configured"],
    ["AWS-US://KEY", "AWS-US, which is not configured"],
    ["aws us://KEY", "not a back-end name"],
    ["team/a://KEY", "not a back-end name"],
    ["aws-us\u0000://KEY", "not a back-end name"],
    ["\u202eaws-us://KEY", "not a back-end name"],
    ["1aws://KEY", "not a back-end name"],
    [`${"a".repeat(64)}://KEY`, "not a back-end name"],
  ])("refuses %j with INVALID_ARGUMENT naming the field", (name, reason) => {
    const error = refusal(() => addressOf(name, "names[3]", "", known));
    expect(error.message).toContain("names[3]");
    expect(error.message).toContain(reason);
  });

  it("refuses a reference that disagrees with the request's backend field, naming the field and both back ends", () => {
    const error = refusal(() => addressOf("aws-us://KEY", "name", "vault-eu", known));
    expect(error.message).toMatch(/^name .*aws-us.*backend field names vault-eu/);
  });

  it("never throws anything but INVALID_ARGUMENT, and never returns a name that still holds a reference", () => {
    const pieces = fc.constantFrom(
      "aws-us",
      "vault-eu",
      "local",
      "x",
      "",
      "://",
      ":",
      "/",
      "//",
      "\u0000",
      "\u2028",
      "é",
      "KEY",
      "os.environ/",
    );
    fc.assert(
      fc.property(
        fc.array(fc.oneof(pieces, fc.string()), { maxLength: 8 }),
        fc.constantFrom("", "aws-us", "local"),
        (parts, requested) => {
          const name = parts.join("");
          let addressed: ReturnType<typeof addressOf>;
          try {
            addressed = addressOf(name, "name", requested, known);
          } catch (error) {
            expect(error).toBeInstanceOf(ServiceError);
            expect((error as ServiceError).code).toBe(Code.InvalidArgument);
            expect((error as ServiceError).message.startsWith("name ")).toBe(true);
            return;
          }
          if (addressed === undefined) {
            expect(name.includes("://")).toBe(false);
            expect(requested).toBe("");
            return;
          }
          expect(known(addressed.backend)).toBe(true);
          expect(addressed.name.includes("://")).toBe(false);
          if (requested !== "") expect(addressed.backend).toBe(requested);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe("checkRequestedBackend", () => {
  it("accepts no back end or a configured one, and refuses any other naming the backend field", () => {
    checkRequestedBackend("", known);
    checkRequestedBackend("local", known);
    for (const requested of ["nope", "aws-us\u0000", " local", "LOCAL"]) {
      expect(refusal(() => checkRequestedBackend(requested, known)).message).toMatch(
        /^backend ".*" is not a configured back end$/s,
      );
    }
  });
});
