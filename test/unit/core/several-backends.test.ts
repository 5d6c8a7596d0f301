import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DescribeBackendsRequestSchema } from "../../../gen/secretgate/v1/admin_service_pb.js";
import {
  DeleteRequestSchema,
  ListHostedRequestSchema,
  ReadRequestSchema,
  RotateRequestSchema,
  type SecretResult,
  SetTeamSettingsRequestSchema,
  WriteRequestSchema,
} from "../../../gen/secretgate/v1/secret_service_pb.js";
import type { BackendConfig, Config, RouteSettings } from "../../../src/config/schema.js";
import { AdminService } from "../../../src/core/admin-service.js";
import { Backends } from "../../../src/core/backends.js";
import { Code } from "../../../src/core/errors.js";
import { SecretService } from "../../../src/core/secret-service.js";
import type { DriverDefinition } from "../../../src/drivers/driver.js";
import { LocalDriver } from "../../../src/providers/local/driver.js";
import { SecretDatabase } from "../../../src/storage/database.js";
import { SqliteTeamSettingsStore } from "../../../src/storage/team-settings-store.js";
import { bedBackend } from "../../helpers/cached-driver-settings.js";
import { admin, caller } from "../../helpers/callers.js";
import { parseConfig } from "../../helpers/config.js";
import { InstrumentedDriver } from "../../helpers/instrumented-driver.js";
import { serviceFailure } from "../../helpers/service-failure.js";

// The core with three back ends, each an embedded store on a database of its own behind the
// instrumented driver (call counts, scripted failures): routing, fallback, references, rules,
// team back ends, caches and dual_write, without a network. test/e2e/several-backends.test.ts
// runs the same against the Vault and AWS emulators.

const logger = pino({ level: "silent" });

interface Bed {
  service: SecretService;
  admin: AdminService;
  drivers: Record<string, InstrumentedDriver>;
  close(): void;
}

const NAMES = ["primary", "secondary", "teams"] as const;

interface BedOptions {
  /** Each back end's virtual-key prefix (default `<name>/`). */
  prefixes?: Partial<Record<(typeof NAMES)[number], string>>;
  /** The default back end's hosted_keys. */
  hostedKeys?: string[];
  /** The service's own environment, every variable of it served (environment.serve). */
  environment?: Record<string, string>;
}

/** A service whose back ends `primary`, `secondary` and `teams` each have their own database; `primary` is the default. */
async function startBed(
  routes: RouteSettings[],
  { prefixes = {}, hostedKeys, environment = {} }: BedOptions = {},
): Promise<Bed> {
  const template = await parseConfig({ secretgate: { environment: { serve: Object.keys(environment) } } }, {});
  const local = template.backends[0]!;
  const dataDirs: string[] = [];
  const databases: SecretDatabase[] = [];
  const drivers: Record<string, InstrumentedDriver> = {};
  const backends = NAMES.map((name) => {
    const dataDir = mkdtempSync(join(tmpdir(), `secretgate-${name}-`));
    dataDirs.push(dataDir);
    const database = SecretDatabase.open({ dataDir, masterKeyEnv: undefined }).database;
    databases.push(database);
    const driver = new InstrumentedDriver(new LocalDriver(database));
    drivers[name] = driver;
    const settings = {
      ...local.settings,
      prefix_for_stored_virtual_keys: prefixes[name] ?? `${name}/`,
      ...(name === "primary" && hostedKeys ? { hosted_keys: hostedKeys } : {}),
    };
    const config: BackendConfig<DriverDefinition> = { ...local, name, settings, at: `secretgate.backends.${name}` };
    return bedBackend(config, driver, logger, { maxStalenessMs: 0 });
  });
  const config: Config<DriverDefinition> = {
    ...template,
    backends: backends.map((backend) => ({ ...local, name: backend.name })),
    defaultBackend: "primary",
  };
  const serviceBackends = new Backends(backends, "primary", routes);
  const teams = new SqliteTeamSettingsStore(databases[0]!);
  const service = new SecretService({ config, backends: serviceBackends, teams, env: environment, logger });
  const noAuditFeed = {
    subscribe: () => {
      throw new Error("this bed has no audit feed");
    },
  };
  return {
    service,
    admin: new AdminService({ backends: serviceBackends, teams, identities: [], audit: noAuditFeed }),
    drivers,
    close: () => {
      for (const database of databases) database.close();
      for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}

type ReadInit = { teamId?: string; virtualKey?: boolean; backend?: string };

async function read(bed: Bed, names: string[], init: ReadInit = {}, context = admin): Promise<SecretResult[]> {
  return (await bed.service.read(create(ReadRequestSchema, { names, ...init }), context)).results;
}

async function readOne(bed: Bed, name: string, init: ReadInit = {}, context = admin): Promise<SecretResult> {
  return (await read(bed, [name], init, context))[0]!;
}

const put = (bed: Bed, backend: string, name: string, text: string) =>
  bed.drivers[backend]!.store.write({ name, value: { text }, tags: {} });
const held = async (bed: Bed, backend: string, name: string) => (await bed.drivers[backend]!.store.read(name))?.text;

let bed: Bed;
afterEach(() => bed?.close());

describe("routes place reads and writes", () => {
  beforeEach(async () => {
    bed = await startBed([
      { names: ["OPENAI_*"], backend: "secondary", fallback: [] },
      { virtual_keys: true, backend: "secondary", fallback: [] },
      { teams: ["team-t"], backend: "teams", fallback: [] },
    ]);
  });

  it("by name, by virtual key and by team, and everything else on the default; source names the back end", async () => {
    await put(bed, "secondary", "OPENAI_API_KEY", "sk-secondary");
    await put(bed, "primary", "OPENAI_API_KEY", "sk-primary");
    await put(bed, "primary", "ANTHROPIC_API_KEY", "sk-anthropic");
    await put(bed, "teams", "TEAM_KEY", "sk-team");
    const results = await read(bed, ["OPENAI_API_KEY", "os.environ/ANTHROPIC_API_KEY"]);
    expect(results.map((result) => [result.name, result.value, result.source, result.fallback])).toEqual([
      ["OPENAI_API_KEY", "sk-secondary", "secondary", false],
      ["ANTHROPIC_API_KEY", "sk-anthropic", "primary", false],
    ]);
    expect(await readOne(bed, "TEAM_KEY", { teamId: "team-t" })).toMatchObject({ value: "sk-team", source: "teams" });

    const written = await bed.service.write(
      create(WriteRequestSchema, { name: "vk-1", value: "sk-virtual", virtualKey: true }),
      admin,
    );
    // The prefix is the back end's own: the route chose the back end before the name was prefixed.
    expect(written).toMatchObject({ name: "secondary/vk-1", source: "secondary" });
    expect(await held(bed, "secondary", "secondary/vk-1")).toBe("sk-virtual");
    expect(await readOne(bed, "vk-1", { virtualKey: true })).toMatchObject({
      value: "sk-virtual",
      resolvedName: "secondary/vk-1",
      source: "secondary",
    });
  });

  it("answers a batch spread over several back ends from each one's cache", async () => {
    await put(bed, "secondary", "OPENAI_API_KEY", "sk-secondary");
    await put(bed, "primary", "PLAIN", "sk-primary");
    await read(bed, ["OPENAI_API_KEY", "PLAIN"]);
    const again = await read(bed, ["PLAIN", "OPENAI_API_KEY"]);
    expect(again.map((result) => [result.source, result.fromCache])).toEqual([
      ["primary", true],
      ["secondary", true],
    ]);
    expect(bed.drivers.primary!.calls.read + bed.drivers.secondary!.calls.read).toBe(2);
  });
});

describe("read fallback", () => {
  beforeEach(async () => {
    bed = await startBed([{ names: ["*"], backend: "primary", fallback: ["secondary", "teams"] }]);
  });

  it("asks the next back end when one misses, says which answered and that it was a fallback", async () => {
    await put(bed, "teams", "ONLY_IN_THIRD", "sk-third");
    await put(bed, "secondary", "IN_SECOND", "sk-second");
    await put(bed, "primary", "IN_SECOND", "sk-first");
    const [third, first] = await read(bed, ["ONLY_IN_THIRD", "IN_SECOND"]);
    expect(third).toMatchObject({ found: true, value: "sk-third", source: "teams", fallback: true });
    expect(first).toMatchObject({ found: true, value: "sk-first", source: "primary", fallback: false });
  });

  it("says every back end it asked when none holds the name", async () => {
    expect(await readOne(bed, "NOWHERE")).toMatchObject({
      found: false,
      error: {
        status: "NOT_FOUND",
        reason: "NOT_IN_BACKEND",
        message: '"NOWHERE" was not found in primary, nor in secondary, nor in teams',
      },
    });
  });

  it("moves on when a back end is unavailable, and reports it unavailable (not a miss) when nobody else holds the name", async () => {
    await put(bed, "secondary", "KEY", "sk-second");
    bed.drivers.primary!.failNext(Code.Unavailable, Infinity);
    expect(await readOne(bed, "KEY")).toMatchObject({
      found: true,
      value: "sk-second",
      source: "secondary",
      fallback: true,
    });
    const missing = await readOne(bed, "NOT_ANYWHERE");
    expect(missing).toMatchObject({ found: false, error: { status: "UNAVAILABLE" } });
    expect(missing.error!.message).toContain("not found in secondary, teams");
  });

  it("does not move on from a definite failure (the back end answered)", async () => {
    await put(bed, "secondary", "KEY", "sk-second");
    bed.drivers.primary!.failNext(Code.PermissionDenied, 1);
    expect(await readOne(bed, "KEY")).toMatchObject({ found: false, error: { status: "PERMISSION_DENIED" } });
    expect(bed.drivers.secondary!.calls.read).toBe(0);
  });

  it("lets a later write to a fallback show through its cached miss", async () => {
    expect(await readOne(bed, "LATER")).toMatchObject({ found: false });
    await bed.service.write(create(WriteRequestSchema, { name: "secondary://LATER", value: "sk-later" }), admin);
    expect(await readOne(bed, "LATER")).toMatchObject({
      found: true,
      value: "sk-later",
      source: "secondary",
      fallback: true,
      fromCache: false,
    });
    // The primary's own miss was cached and still is: the write went to the fallback only.
    expect(bed.drivers.primary!.calls.read).toBe(1);
  });

  it("passes over a fallback the caller may not use", async () => {
    await put(bed, "secondary", "KEY", "sk-second");
    await put(bed, "teams", "KEY", "sk-third");
    const restricted = caller({ read: ["*"], backends: ["primary", "teams"] });
    expect(await readOne(bed, "KEY", {}, restricted)).toMatchObject({
      value: "sk-third",
      source: "teams",
      fallback: true,
    });
    expect(bed.drivers.secondary!.calls.read).toBe(0);
  });
});

describe("explicit references", () => {
  beforeEach(async () => {
    bed = await startBed([{ names: ["*"], backend: "primary", fallback: ["secondary"] }]);
    await put(bed, "secondary", "KEY", "sk-second");
  });

  it("read that back end only, in both forms, with no fallback", async () => {
    expect(await readOne(bed, "os.environ/secondary://KEY")).toMatchObject({
      name: "secondary://KEY",
      resolvedName: "KEY",
      value: "sk-second",
      source: "secondary",
      fallback: false,
    });
    expect(await readOne(bed, "KEY", { backend: "secondary" })).toMatchObject({
      value: "sk-second",
      source: "secondary",
    });
    expect(await readOne(bed, "primary://KEY")).toMatchObject({
      found: false,
      error: { reason: "NOT_IN_BACKEND", message: '"KEY" was not found in primary' },
    });
  });

  it("refuses malformed references per item and a backend field naming no back end for the whole call", async () => {
    const [bad, good] = await read(bed, ["nowhere://KEY", "KEY"]);
    expect(bad).toMatchObject({ found: false, error: { status: "INVALID_ARGUMENT" } });
    expect(bad!.error!.message).toContain("names[0]");
    expect(good).toMatchObject({ found: true });
    expect((await readOne(bed, "primary://KEY", { backend: "secondary" })).error).toMatchObject({
      status: "INVALID_ARGUMENT",
    });
    expect(
      (
        await serviceFailure(() =>
          bed.service.read(create(ReadRequestSchema, { names: ["KEY"], backend: "nowhere" }), admin),
        )
      ).code,
    ).toBe(Code.InvalidArgument);
  });

  it("write, delete and rotate in the back end they name", async () => {
    await bed.service.write(create(WriteRequestSchema, { name: "teams://W", value: "sk-w" }), admin);
    expect(await held(bed, "teams", "W")).toBe("sk-w");
    await bed.service.rotate(
      create(RotateRequestSchema, { currentName: "teams://W", newName: "W2", value: "sk-w2" }),
      admin,
    );
    expect([await held(bed, "teams", "W"), await held(bed, "teams", "W2")]).toEqual([undefined, "sk-w2"]);
    const mixed = await serviceFailure(() =>
      bed.service.rotate(
        create(RotateRequestSchema, { currentName: "teams://W2", newName: "primary://W3", value: "x-value" }),
        admin,
      ),
    );
    expect(mixed.code).toBe(Code.InvalidArgument);
    await bed.service.delete(create(DeleteRequestSchema, { name: "W2", backend: "teams" }), admin);
    expect(await held(bed, "teams", "W2")).toBeUndefined();
  });

  it("are refused where the caller's rules.backends do not reach", async () => {
    const restricted = caller({ read: ["*"], write: ["*"], backends: ["prim*"] });
    expect(await readOne(bed, "secondary://KEY", {}, restricted)).toMatchObject({
      found: false,
      error: { status: "PERMISSION_DENIED", message: "caller may not use back end secondary" },
    });
    const write = await serviceFailure(() =>
      bed.service.write(create(WriteRequestSchema, { name: "K", value: "v-value", backend: "secondary" }), restricted),
    );
    expect(write.code).toBe(Code.PermissionDenied);
    expect(await held(bed, "secondary", "K")).toBeUndefined();
  });
});

describe("per-team back ends", () => {
  beforeEach(async () => {
    bed = await startBed([{ names: ["*"], backend: "secondary", fallback: [] }]);
  });

  it("send a team's calls to the back end its settings name, over routes; a reference still wins", async () => {
    await bed.service.setTeamSettings(
      create(SetTeamSettingsRequestSchema, { teamId: "team-a", settings: { backend: "teams", prefix: "team-a/" } }),
      admin,
    );
    const written = await bed.service.write(
      create(WriteRequestSchema, { name: "vk", value: "sk-team-a", virtualKey: true, teamId: "team-a" }),
      admin,
    );
    expect(written).toMatchObject({ name: "team-a/vk", source: "teams" });
    expect(await readOne(bed, "vk", { virtualKey: true, teamId: "team-a" })).toMatchObject({
      value: "sk-team-a",
      source: "teams",
    });
    // The team's settings (its prefix) belong to its back end: elsewhere the back end's own apply.
    expect(await readOne(bed, "primary://vk", { virtualKey: true, teamId: "team-a" })).toMatchObject({
      resolvedName: "primary/vk",
      found: false,
    });
  });

  it("validate the rest of the settings against that back end, naming the key", async () => {
    const set = (settings: Record<string, unknown>) =>
      bed.service.setTeamSettings(
        create(SetTeamSettingsRequestSchema, { teamId: "team-a", settings: settings as never }),
        admin,
      );
    expect((await serviceFailure(() => set({ backend: "teams", namespace: "x" }))).message).toBe(
      'settings: unknown key "namespace"',
    );
    expect((await serviceFailure(() => set({ backend: "nowhere" }))).message).toBe(
      'settings.backend: "nowhere" is not a configured back end',
    );
    expect((await serviceFailure(() => set({ backend: 7 }))).message).toBe(
      "settings.backend: must be the name of a back end",
    );
    expect((await serviceFailure(() => set({ backend: "teams", prefix: 7 }))).message).toMatch(/^settings\.prefix: /);
    const restricted = caller({ teams: ["*"], admin: true, backends: ["primary"] });
    expect(
      (
        await serviceFailure(() =>
          bed.service.setTeamSettings(
            create(SetTeamSettingsRequestSchema, { teamId: "team-a", settings: { backend: "teams" } }),
            restricted,
          ),
        )
      ).code,
    ).toBe(Code.PermissionDenied);
  });
});

describe("the service's own environment", () => {
  beforeEach(async () => {
    bed = await startBed([], {
      hostedKeys: ["SERVED_KEY", "HELD_KEY"],
      environment: { SERVED_KEY: "from-the-service-environment" },
    });
    await put(bed, "primary", "HELD_KEY", "sk-held");
  });

  it("answers a served name the back end lacks, on a Read and in ListHosted, but never a name addressed to one back end", async () => {
    expect(await readOne(bed, "SERVED_KEY")).toMatchObject({ found: true, source: "env" });
    expect(await readOne(bed, "primary://SERVED_KEY")).toMatchObject({
      found: false,
      error: { reason: "NOT_IN_BACKEND" },
    });
    const { keys } = await bed.service.listHosted(create(ListHostedRequestSchema, { backend: "primary" }), admin);
    expect(keys.map((key) => [key.name, key.backend, key.resolves, key.source])).toEqual([
      ["HELD_KEY", "primary", true, "primary"],
      ["SERVED_KEY", "primary", true, "env"],
    ]);
  });
});

describe("ListHosted and DescribeBackends", () => {
  beforeEach(async () => {
    bed = await startBed([]);
    await put(bed, "primary", "BOTH", "sk-1");
    await put(bed, "secondary", "BOTH", "sk-2");
    await put(bed, "teams", "THIRD", "sk-3");
  });

  it("lists every back end's names, a name two back ends hold once for each, or one back end's", async () => {
    const { keys } = await bed.service.listHosted(create(ListHostedRequestSchema, {}), admin);
    expect(keys.map((key) => [key.name, key.backend, key.source, key.resolves])).toEqual([
      ["BOTH", "primary", "primary", true],
      ["BOTH", "secondary", "secondary", true],
      ["THIRD", "teams", "teams", true],
    ]);
    const one = await bed.service.listHosted(create(ListHostedRequestSchema, { backend: "secondary" }), admin);
    expect(one.keys.map((key) => [key.name, key.backend])).toEqual([["BOTH", "secondary"]]);
    const restricted = caller({ read: ["*"], backends: ["teams"] });
    expect(
      (await bed.service.listHosted(create(ListHostedRequestSchema, {}), restricted)).keys.map((key) => key.backend),
    ).toEqual(["teams"]);
  });

  it("describes each back end for admins only, never its settings' values", async () => {
    const { backends } = bed.admin.describeBackends(create(DescribeBackendsRequestSchema, {}), admin);
    expect(
      backends.map((backend) => [
        backend.name,
        backend.system,
        backend.isDefault,
        backend.accessMode,
        backend.reachable,
        backend.breakerState,
      ]),
    ).toEqual([
      ["primary", "local", true, "read_and_write", true, "closed"],
      ["secondary", "local", false, "read_and_write", true, "closed"],
      ["teams", "local", false, "read_and_write", true, "closed"],
    ]);
    expect(backends[0]!.capabilities).toMatchObject({ write: true, binary: true, list: true });
    const schema = backends[1]!.teamSettingsSchema as {
      properties: Record<string, unknown>;
      additionalProperties: boolean;
    };
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties).sort()).toEqual(["backend", "description", "prefix", "tags"]);
    expect(schema.properties.backend).toMatchObject({ const: "secondary" });
    const notAdmin = caller({ read: ["*"] });
    expect(
      (await serviceFailure(() => bed.admin.describeBackends(create(DescribeBackendsRequestSchema, {}), notAdmin)))
        .code,
    ).toBe(Code.PermissionDenied);
  });
});

describe("mode dual_write", () => {
  beforeEach(async () => {
    bed = await startBed([{ names: ["*"], backend: "primary", fallback: ["secondary"], mode: "dual_write" }], {
      prefixes: { primary: "new/", secondary: "old/" },
    });
  });

  it("writes to the back end and then every fallback, each with its own prefix; reads prefer the back end", async () => {
    const written = await bed.service.write(
      create(WriteRequestSchema, { name: "vk", value: "sk-both", virtualKey: true }),
      admin,
    );
    expect(written).toMatchObject({ name: "new/vk", source: "primary", warnings: [] });
    expect([await held(bed, "primary", "new/vk"), await held(bed, "secondary", "old/vk")]).toEqual([
      "sk-both",
      "sk-both",
    ]);
    await put(bed, "secondary", "old/vk", "sk-stale-copy");
    expect(await readOne(bed, "vk", { virtualKey: true })).toMatchObject({
      value: "sk-both",
      source: "primary",
      fallback: false,
    });
  });

  it("succeeds when the fallback fails, with a warning; fails with nothing written when the back end fails", async () => {
    bed.drivers.secondary!.failNext(Code.Unavailable, 1);
    const written = await bed.service.write(create(WriteRequestSchema, { name: "K", value: "sk-k" }), admin);
    expect(written.warnings).toEqual([
      expect.stringMatching(/^dual_write: Write did not reach secondary: UNAVAILABLE: /),
    ]);
    expect(written.warnings.join()).not.toContain("sk-k");
    bed.drivers.primary!.failNext(Code.Unavailable, 1);
    expect(
      (await serviceFailure(() => bed.service.write(create(WriteRequestSchema, { name: "K2", value: "sk-k2" }), admin)))
        .code,
    ).toBe(Code.Unavailable);
    expect(await held(bed, "secondary", "K2")).toBeUndefined();
    expect(bed.drivers.secondary!.calls.write).toBe(1);
  });

  it("deletes from both, also a secret only the fallback still holds, and rotates both", async () => {
    await put(bed, "secondary", "OLD_ONLY", "sk-old");
    expect(await bed.service.delete(create(DeleteRequestSchema, { name: "OLD_ONLY" }), admin)).toMatchObject({
      name: "OLD_ONLY",
    });
    expect(await held(bed, "secondary", "OLD_ONLY")).toBeUndefined();
    expect(
      (await serviceFailure(() => bed.service.delete(create(DeleteRequestSchema, { name: "OLD_ONLY" }), admin)))
        .message,
    ).toBe('secret "OLD_ONLY" does not exist in primary, nor in secondary');

    await put(bed, "secondary", "ROTATED", "sk-before");
    const rotated = await bed.service.rotate(
      create(RotateRequestSchema, { currentName: "ROTATED", newName: "ROTATED_2", value: "sk-after" }),
      admin,
    );
    expect(rotated).toMatchObject({ name: "ROTATED_2", oldDeleted: true });
    expect([
      await held(bed, "primary", "ROTATED_2"),
      await held(bed, "secondary", "ROTATED_2"),
      await held(bed, "secondary", "ROTATED"),
    ]).toEqual(["sk-after", "sk-after", undefined]);
  });
});
