import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { DriverDefinition } from "../../../src/drivers/driver.js";
import { ROOT } from "../../helpers/server.js";

// docs/development.md, "Adding a back end", is the recipe: a folder, an emulator, tests, a doc page
// and one line in src/systems.ts. This test holds every back end to each place it names, so a back
// end missing from one fails here, and holds the recipe to naming every place checked here.

/** The files every back end's folder has, whatever else its system needs. */
const SHAPE = ["README.md", "index.ts", "driver.ts", "settings.ts", "errors.ts"];

/** The embedded store runs in the service itself: there is no remote service to emulate. */
const EMBEDDED = "local";

interface Place {
  /** A path with `<folder>` standing for the back end's folder name under src/providers/. */
  path: string;
  /** Which back ends it applies to, when not all. */
  appliesTo?: (folder: string, definition: DriverDefinition) => boolean;
}

const PLACES: Place[] = [
  { path: "src/providers/<folder>/index.ts" },
  { path: "test/emulators/<folder>/index.ts", appliesTo: (folder) => folder !== EMBEDDED },
  { path: "test/providers/<folder>/" },
  // The suite writes, reads back and deletes: a back end that only decrypts has its reads tested in test/providers/.
  { path: "test/conformance/<folder>.test.ts", appliesTo: (_folder, definition) => definition.capabilities.write },
  { path: "test/e2e/<folder>.test.ts" },
  { path: "docs/backends/<folder>.md" },
];

const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

/** Every back end's folder under src/providers/ (the `*-common` folders hold what several share). */
const folders = readdirSync(join(ROOT, "src", "providers"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && !entry.name.endsWith("-common"))
  .map((entry) => entry.name)
  .sort();

let definitions: Map<string, DriverDefinition>;
let systems: readonly DriverDefinition[];

beforeAll(async () => {
  definitions = new Map();
  for (const folder of folders) {
    const module = (await import(join(ROOT, "src", "providers", folder, "index.ts")).catch(() => ({}))) as {
      definition?: DriverDefinition;
    };
    if (module.definition) definitions.set(folder, module.definition);
  }
  const list = (await import(join(ROOT, "src", "systems.ts")).catch(() => ({}))) as {
    SYSTEMS?: readonly DriverDefinition[];
  };
  systems = list.SYSTEMS ?? [];
});

describe("adding a back end (docs/development.md)", () => {
  it("finds the seven back ends and the embedded store", () => {
    expect(folders).toHaveLength(8);
  });

  it("gives every back end's folder the same files", () => {
    const missing = folders.flatMap((folder) =>
      SHAPE.filter((file) => !existsSync(join(ROOT, "src", "providers", folder, file))).map(
        (file) => `src/providers/${folder}/${file}`,
      ),
    );
    expect(missing).toEqual([]);
  });

  it("has each folder's index.ts export its definition, and lists each definition once in src/systems.ts", () => {
    expect(
      folders
        .filter((folder) => !definitions.has(folder))
        .map((folder) => `src/providers/${folder}/index.ts exports no definition`),
    ).toEqual([]);
    const unlisted = [...definitions]
      .filter(([, definition]) => !systems.includes(definition))
      .map(([folder]) => `${folder} is not in SYSTEMS`);
    expect(unlisted).toEqual([]);
    expect(systems.length).toBe(definitions.size);
    expect(new Set(systems.map((definition) => definition.name)).size).toBe(systems.length);
  });

  it("has every back end in every place the recipe names", () => {
    const missing: string[] = [];
    for (const folder of folders) {
      const definition = definitions.get(folder);
      if (!definition) continue;
      for (const place of PLACES) {
        if (place.appliesTo && !place.appliesTo(folder, definition)) continue;
        const path = place.path.replaceAll("<folder>", folder);
        if (!existsSync(join(ROOT, path))) missing.push(path);
        else if (path.endsWith("/") && !readdirSync(join(ROOT, path)).some((file) => file.endsWith(".test.ts")))
          missing.push(`${path} (no test in it)`);
      }
      if (folder !== EMBEDDED && !read("test/emulators/cli.test.ts").includes(`"${folder}"`))
        missing.push(`test/emulators/cli.test.ts: no case starting ${folder}`);
      const page = `docs/backends/${folder}.md`;
      const row = read("README.md")
        .split("\n")
        .find((line) => line.startsWith("|") && line.includes(`](${page})`));
      if (!row) missing.push(`README.md: no row of the back ends' table links ${page}`);
      else if (folder !== EMBEDDED && !row.includes(`\`${definition.name}\``))
        missing.push(`README.md: the row linking ${page} does not name ${definition.name}`);
      if (!read("docs/backends/README.md").includes(`](${folder}.md)`))
        missing.push(`docs/backends/README.md: no link to ${folder}.md`);
    }
    expect(missing).toEqual([]);
  });

  it("names every place it checks in the recipe", () => {
    const development = read("docs/development.md");
    const recipe = development.slice(
      development.indexOf("## Adding a back end"),
      development.indexOf("\n## ", development.indexOf("## Adding a back end") + 1),
    );
    const places = [
      ...PLACES.map((place) => place.path),
      "src/systems.ts",
      "test/emulators/cli.test.ts",
      "docs/backends/README.md",
      ...SHAPE.map((file) => `\`${file}\``),
    ];
    expect(places.filter((place) => !recipe.includes(place.replace(/^`|`$/g, "")))).toEqual([]);
  });
});
