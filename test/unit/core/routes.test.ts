import { describe, expect, it } from "vitest";
import type { RouteSettings } from "../../../src/config/schema.js";
import { type Placement, Routes } from "../../../src/core/routes.js";

const DEFAULT: Placement<string> = { backend: "default", fallback: [], dualWrite: false };
const route = (settings: Partial<RouteSettings> & { backend: string }): RouteSettings => ({
  fallback: [],
  ...settings,
});
const routes = (...settings: RouteSettings[]) => new Routes(settings, (name) => name, DEFAULT);
const placed = (table: Routes<string>, name: string, virtualKey = false, teamId = "") =>
  table.place(name, virtualKey, teamId).backend;

describe("Routes", () => {
  it("places every call on the default without routes", () => {
    const table = routes();
    expect(table.place("OPENAI_API_KEY", false, "")).toBe(DEFAULT);
    expect(table.place("vk", true, "team-a")).toBe(DEFAULT);
  });

  it("takes the first route whose conditions all hold, even when a later one matches too", () => {
    const table = routes(
      route({ names: ["OPENAI_*"], backend: "aws-us" }),
      route({ names: ["*_API_KEY"], backend: "vault-eu" }),
      route({ backend: "catch-all" }),
    );
    expect(placed(table, "OPENAI_API_KEY")).toBe("aws-us");
    expect(placed(table, "ANTHROPIC_API_KEY")).toBe("vault-eu");
    // A route without conditions matches everything: nothing reaches the default after it.
    expect(placed(table, "anything")).toBe("catch-all");
  });

  it("matches names with the rules' globs: anchored, '*' across '/', '?' one character, the rest literal", () => {
    const table = routes(
      route({ names: ["team-?/*"], backend: "teams" }),
      route({ names: ["a.b", "exact"], backend: "literal" }),
    );
    expect(placed(table, "team-a/nested/key")).toBe("teams");
    expect(placed(table, "team-ab/key")).toBe("default");
    expect(placed(table, "xteam-a/key")).toBe("default");
    expect(placed(table, "a.b")).toBe("literal");
    expect(placed(table, "axb")).toBe("default");
    expect(placed(table, "exact")).toBe("literal");
    expect(placed(table, "exactly")).toBe("default");
  });

  it("matches virtual keys by virtual_keys: true only them, false only the others, omitted both", () => {
    const table = routes(
      route({ virtual_keys: true, backend: "keys" }),
      route({ virtual_keys: false, names: ["SHARED"], backend: "plain" }),
      route({ names: ["SHARED"], backend: "either" }),
    );
    expect(placed(table, "SHARED", true)).toBe("keys");
    expect(placed(table, "SHARED", false)).toBe("plain");
    expect(placed(table, "OTHER", false)).toBe("default");
    const omitted = routes(route({ names: ["SHARED"], backend: "either" }));
    expect(placed(omitted, "SHARED", true)).toBe("either");
    expect(placed(omitted, "SHARED", false)).toBe("either");
  });

  it("matches teams by id; a call without a team matches no teams condition", () => {
    const table = routes(route({ teams: ["team-a", "team-b"], backend: "teams" }));
    expect(placed(table, "KEY", false, "team-a")).toBe("teams");
    expect(placed(table, "KEY", false, "team-b")).toBe("teams");
    expect(placed(table, "KEY", false, "team-c")).toBe("default");
    expect(placed(table, "KEY", false, "")).toBe("default");
    // Team ids are compared as they are, not as globs.
    expect(placed(routes(route({ teams: ["team-*"], backend: "teams" })), "KEY", false, "team-a")).toBe("default");
  });

  it("needs every condition of a route to hold", () => {
    const table = routes(route({ names: ["litellm-*"], virtual_keys: true, teams: ["team-a"], backend: "all-three" }));
    expect(placed(table, "litellm-1", true, "team-a")).toBe("all-three");
    expect(placed(table, "litellm-1", false, "team-a")).toBe("default");
    expect(placed(table, "litellm-1", true, "team-b")).toBe("default");
    expect(placed(table, "other", true, "team-a")).toBe("default");
  });

  it("carries a route's fallbacks in order and its dual_write mode, the same placement every time", () => {
    const table = routes(
      route({ names: ["K*"], backend: "vault-eu", fallback: ["aws-us", "local"], mode: "dual_write" }),
      route({ names: ["R*"], backend: "aws-us", fallback: ["local"] }),
    );
    const first = table.place("KEY", false, "");
    expect(first).toEqual({ backend: "vault-eu", fallback: ["aws-us", "local"], dualWrite: true });
    expect(table.place("KEY2", true, "team")).toBe(first);
    expect(table.place("READ", false, "")).toEqual({ backend: "aws-us", fallback: ["local"], dualWrite: false });
  });
});
