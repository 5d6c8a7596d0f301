import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { cruise, type ICruiseResult, type IForbiddenRuleType } from "dependency-cruiser";
import extractTypeScriptConfig from "dependency-cruiser/config-utl/extract-ts-config";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../helpers/server.js";

// The layers docs/development.md draws, as rules over src/'s import graph (type-only imports
// included: a cycle of types is still a cycle a reader must untangle). Each rule names what it
// forbids; a violation is reported as "from → to".

/** The wiring above every layer: the command line and the modules that assemble the server. */
const WIRING = "^src/(cli/|app\\.ts$|main\\.ts$|start\\.ts$|start-backends\\.ts$|systems\\.ts$)";
/** The core's two leaf modules (portable status codes, name rules) that lower layers may import. */
const CORE_LEAVES = "^src/core/(errors|names)\\.ts$";

const RULES: IForbiddenRuleType[] = [
  { name: "no-cycles", severity: "error", from: { path: "^src/" }, to: { circular: true } },
  {
    name: "providers-below-listeners-and-wiring",
    severity: "error",
    from: { path: "^src/providers/" },
    to: { path: [WIRING, "^src/server/"] },
  },
  {
    name: "providers-use-only-the-core's-leaves",
    severity: "error",
    from: { path: "^src/providers/" },
    to: { path: "^src/core/", pathNot: CORE_LEAVES },
  },
  {
    // A back end's folder is its own: it shares code only through a `*-common` folder.
    name: "providers-independent",
    severity: "error",
    from: { path: "^src/providers/([^/]+)/" },
    to: { path: "^src/providers/", pathNot: ["^src/providers/$1/", "^src/providers/[^/]+-common/"] },
  },
  {
    name: "storage-below-the-core",
    severity: "error",
    from: { path: "^src/storage/" },
    to: { path: [WIRING, "^src/(server|core|drivers|providers)/"] },
  },
  {
    name: "drivers-below-the-core",
    severity: "error",
    from: { path: "^src/drivers/" },
    to: { path: [WIRING, "^src/(server|core)/"], pathNot: CORE_LEAVES },
  },
  {
    // The list of back ends is the wiring's (src/systems.ts): the driver contract names no provider.
    name: "drivers-hold-no-provider-list",
    severity: "error",
    from: { path: "^src/drivers/" },
    to: { path: "^src/providers/" },
  },
  {
    // drivers/ and providers/ use config/'s types and errors; config/ is told of the back ends by
    // its caller, so the two folders never import each other both ways.
    name: "config-below-drivers",
    severity: "error",
    from: { path: "^src/config/" },
    to: { path: "^src/(drivers|providers)/" },
  },
  {
    // Policy lives once, in the core: it never reaches a back end's folder by name.
    name: "core-below-listeners-and-wiring",
    severity: "error",
    from: { path: "^src/core/" },
    to: { path: [WIRING, "^src/(server|providers)/"] },
  },
  {
    name: "listeners-reach-back-ends-through-the-core",
    severity: "error",
    from: { path: "^src/server/" },
    to: { path: [WIRING, "^src/(drivers|providers|storage)/"] },
  },
  {
    name: "core-leaves-import-no-other-module",
    severity: "error",
    from: { path: CORE_LEAVES },
    to: { path: "^src/", pathNot: CORE_LEAVES },
  },
];

let result: ICruiseResult;

beforeAll(async () => {
  const tsConfig = extractTypeScriptConfig(join(ROOT, "tsconfig.json"));
  const cruised = await cruise(
    ["src"],
    {
      baseDir: ROOT,
      ruleSet: { forbidden: RULES },
      validate: true,
      tsPreCompilationDeps: true,
      doNotFollow: { path: "node_modules" },
      exclude: { path: "node_modules" },
      // Resolve packages' subpath exports (`@bufbuild/protobuf/wkt`) as Node does for our ES modules.
      enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "node", "default"] },
    },
    {},
    { tsConfig },
  );
  result = cruised.output as ICruiseResult;
}, 60_000);

/** Each violation of `rule` as "from → to", or "from → … → from" for a cycle. */
function violations(rule: string): string[] {
  return result.summary.violations
    .filter((violation) => violation.rule.name === rule)
    .map((violation) =>
      violation.cycle?.length
        ? [violation.from, ...violation.cycle.map((step) => step.name)].join(" → ")
        : `${violation.from} → ${violation.to}`,
    );
}

describe("src/'s import graph", () => {
  it("covers every module under src/, resolving each import of ours", () => {
    const sources = result.modules.filter((module) => module.source.startsWith("src/"));
    expect(sources.map((module) => module.source)).toEqual(
      expect.arrayContaining([
        "src/app.ts",
        "src/core/cached-driver.ts",
        "src/providers/local/driver.ts",
        "src/storage/postgres/replica-sync.ts",
      ]),
    );
    const unresolved = sources.flatMap((module) =>
      module.dependencies
        .filter((dependency) => dependency.couldNotResolve)
        .map((dependency) => `${module.source} → ${dependency.module}`),
    );
    expect(unresolved).toEqual([]);
  });

  it.each(RULES.map((rule) => rule.name!))("holds rule %s", (rule) => {
    expect(violations(rule)).toEqual([]);
  });

  it("has no cycle between src/config and src/drivers at folder level", () => {
    const folderOf = (path: string) => /^src\/([^/]+)\//.exec(path)?.[1];
    const edges = new Set<string>();
    for (const module of result.modules) {
      const from = folderOf(module.source);
      for (const dependency of module.dependencies) {
        const to = folderOf(dependency.resolved);
        if (from && to && from !== to) edges.add(`${from} → ${to}`);
      }
    }
    const both = ["config → drivers", "drivers → config"].filter((edge) => edges.has(edge));
    expect(both.length, `src/config and src/drivers import each other: ${both.join(", ")}`).toBeLessThan(2);
  });

  it("loads no back end's SDK with the list of back ends (src/systems.ts): a driver module brings it when configured", () => {
    const byPath = new Map(result.modules.map((module) => [module.source, module]));
    const loaded = new Set<string>();
    const visit = (path: string) => {
      if (loaded.has(path)) return;
      loaded.add(path);
      for (const dependency of byPath.get(path)?.dependencies ?? []) {
        // Only what runs at import: neither a dynamic import() nor a type-only import loads anything.
        if (dependency.dynamic || dependency.dependencyTypes.some((type) => type.startsWith("type-"))) continue;
        visit(dependency.resolved);
      }
    };
    visit("src/systems.ts");
    const sdks = [...loaded].filter((path) =>
      /node_modules\/(@aws-sdk|@smithy|@azure|@google-cloud|google-gax)\//.test(path),
    );
    expect(sdks).toEqual([]);
    expect([...loaded].filter((path) => /^src\/providers\/[^/]+\/driver\.ts$/.test(path))).toEqual([]);
  });

  it("has a README in every folder under src/ saying what the folder holds and may import", () => {
    const folders = [
      join(ROOT, "src"),
      ...readdirSync(join(ROOT, "src"), { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => join(entry.parentPath, entry.name)),
    ];
    const lacking = folders.filter((folder) => {
      const readme = join(folder, "README.md");
      return !existsSync(readme) || !readFileSync(readme, "utf8").includes("**May import:**");
    });
    expect(lacking.map((folder) => relative(ROOT, folder))).toEqual([]);
  });
});
