import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { rulesSchema } from "../../src/auth/identity.js";
import { commonKeyManagementSettings } from "../../src/config/key-management-settings.js";
import { serverSettingsSchema } from "../../src/config/schema.js";
import type { DriverDefinition } from "../../src/drivers/driver.js";
import { SYSTEMS } from "../../src/systems.js";
import { codeSpans, type MarkdownTable, outline } from "../helpers/markdown.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

type JsonSchema = {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  default?: unknown;
};

/** A key as the docs write it (`limits.idle_timeout_ms`, `auth.tokens[].name`, `backends.<name>.env`), with its default. */
interface Key {
  path: string;
  /** Set for keys that hold a value; the others only group keys (`limits`, `auth.tokens`). */
  leaf: boolean;
  default?: unknown;
}

/**
 * Every key a schema accepts, walked through its JSON Schema (the input side: what a config file
 * holds). Objects, arrays of objects and maps of objects are walked into; rules have a table of
 * their own.
 */
function keysOf(schema: z.ZodType): Key[] {
  const keys: Key[] = [];
  const walk = (node: JsonSchema, path: string) => {
    const group = (inner: JsonSchema, innerPath: string) => {
      if (path !== "") keys.push({ path, leaf: false, default: node.default });
      for (const [name, child] of Object.entries(inner.properties!))
        walk(child, innerPath === "" ? name : `${innerPath}.${name}`);
    };
    const last = path.slice(path.lastIndexOf(".") + 1);
    if (last === "rules") keys.push({ path, leaf: true });
    else if (node.properties) group(node, path);
    else if (node.type === "array" && node.items?.properties) group(node.items, `${path}[]`);
    else if (typeof node.additionalProperties === "object" && node.additionalProperties.properties)
      group(node.additionalProperties, `${path}.<name>`);
    else keys.push({ path, leaf: true, default: node.default });
  };
  walk(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema, "");
  return keys;
}

function table(markdown: string, heading: string): MarkdownTable {
  const found = outline(markdown).tables.filter((candidate) => candidate.heading === heading);
  expect(found, `one table under the heading "${heading}"`).toHaveLength(1);
  return found[0]!;
}

/** The key each row documents: the first code span of its first cell. */
const keyOfRow = (cells: string[]) => codeSpans(cells[0]!)[0];

/** Back ends a row names in its `back ends` column: code spans, or all of them. */
const systemsOfRow = (cells: string[], all: readonly string[]) =>
  cells[1] === "every back end" ? [...all] : codeSpans(cells[1]!);

/** How a default appears in the docs: strings as they are, everything else as JSON. */
const shown = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));

const configuration = read("docs/configuration.md");
const systems = SYSTEMS.map((definition) => definition.name);
const definitions = new Map<string, DriverDefinition>(SYSTEMS.map((definition) => [definition.name, definition]));

describe("docs/configuration.md", () => {
  it("documents every key of secretgate: and no other, with its default", () => {
    const keys = keysOf(serverSettingsSchema);
    const rows = table(configuration, "secretgate's own settings (secretgate:)").rows;
    const documented = rows.map((row) => keyOfRow(row.cells));
    expect(new Set(documented).size, "each key once").toBe(documented.length);
    expect(documented.filter((path) => !keys.some((key) => key.path === path))).toEqual([]);
    expect(keys.filter((key) => key.leaf && !documented.includes(key.path)).map((key) => key.path)).toEqual([]);
    for (const key of keys) {
      const row = rows.find((candidate) => keyOfRow(candidate.cells) === key.path);
      if (row && key.leaf && key.default !== undefined)
        expect(codeSpans(row.cells[2]!), `the default of ${key.path}`).toContain(shown(key.default));
    }
  });

  it("documents every key of general_settings.key_management_settings every back end shares, with its default", () => {
    const keys = keysOf(z.object(commonKeyManagementSettings));
    const rows = table(configuration, "general_settings.key_management_settings").rows;
    expect(rows.map((row) => keyOfRow(row.cells)).sort()).toEqual(keys.map((key) => key.path).sort());
    for (const key of keys.filter((candidate) => candidate.default !== undefined)) {
      const row = rows.find((candidate) => keyOfRow(candidate.cells) === key.path)!;
      expect(codeSpans(row.cells[1]!), `the default of ${key.path}`).toContain(shown(key.default));
    }
  });

  it("documents the key_management_settings keys each back end adds, and names the right back ends", () => {
    const expected = systems.flatMap((system) =>
      Object.keys(definitions.get(system)!.settings ?? {}).map((key) => `${system}: ${key}`),
    );
    const documented = table(configuration, "Keys one back end adds").rows.flatMap((row) =>
      systemsOfRow(row.cells, systems).map((system) => `${system}: ${keyOfRow(row.cells)}`),
    );
    expect(documented.sort()).toEqual(expected.sort());
  });

  it("documents every key of an identity's rules, with its default", () => {
    const keys = keysOf(rulesSchema);
    const rows = table(configuration, "Rules").rows;
    expect(rows.map((row) => keyOfRow(row.cells)).sort()).toEqual(keys.map((key) => key.path).sort());
    for (const key of keys) {
      const row = rows.find((candidate) => keyOfRow(candidate.cells) === key.path)!;
      expect(codeSpans(row.cells[1]!), `the default of ${key.path}`).toContain(shown(key.default));
    }
  });

  it("documents every team-settings key of every back end, and names the right back ends", () => {
    // `backend` is the core's: it names the team's back end, whichever that is.
    const expected = systems.flatMap((system) =>
      ["backend", ...keysOf(definitions.get(system)!.teamSettings).map((key) => key.path)].map(
        (key) => `${system}: ${key}`,
      ),
    );
    const documented = table(configuration, "Team settings").rows.flatMap((row) =>
      systemsOfRow(row.cells, systems).map((system) => `${system}: ${keyOfRow(row.cells)}`),
    );
    expect(documented.sort()).toEqual(expected.sort());
  });

  it("names every SECRETGATE_* variable the code reads", () => {
    const variables = new Set<string>(["DATABASE_URL"]);
    for (const entry of readdirSync(join(ROOT, "src"), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
      for (const match of readFileSync(join(entry.parentPath, entry.name), "utf8").matchAll(/\bSECRETGATE_[A-Z0-9_]+/g))
        variables.add(match[0]);
    }
    expect([...variables].filter((variable) => !configuration.includes(`\`${variable}\``))).toEqual([]);
  });
});

describe("docs/backends/", () => {
  const index = read("docs/backends/README.md");
  const pages = new Map(
    table(index, "Back ends").rows.map((row) => {
      const link = /\]\(([^)#]+)\)/.exec(row.cells[1]!)?.[1];
      return [keyOfRow(row.cells), link === undefined ? undefined : join("docs/backends", link)] as const;
    }),
  );

  it("has one page per back end in src/systems.ts, listed in its index", () => {
    expect([...pages.keys()].sort()).toEqual([...systems].sort());
    for (const [system, page] of pages) expect(page, `${system}'s page`).toMatch(/^docs\/backends\/[a-z-]+\.md$/);
  });

  it.each(systems)("%s: its page names every variable, setting and team key the back end reads", (system) => {
    // A page may rely on a sibling page it links to (AWS KMS on Secrets Manager's credentials).
    const page = read(pages.get(system)!);
    const siblings = [...outline(page).links]
      .map((link) => link.target.split("#")[0]!)
      .filter((target) => /^[a-z-]+\.md$/.test(target));
    const text = [page, ...siblings.map((sibling) => read(join("docs/backends", sibling)))].join("\n");
    const definition = definitions.get(system)!;
    const names = [
      ...definition.credentialEnvironment.names,
      ...Object.keys(definition.settings ?? {}),
      ...keysOf(definition.teamSettings).map((key) => key.path),
    ];
    // Written as code, a YAML key or a JSON key: a bare word like "data" proves nothing.
    expect(
      names.filter((name) => ![`\`${name}\``, `"${name}"`, `${name}:`, `${name}=`].some((form) => text.includes(form))),
    ).toEqual([]);
  });
});
