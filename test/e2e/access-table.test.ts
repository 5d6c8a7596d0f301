import { randomBytes } from "node:crypto";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService, type AuditRecord, type Caller } from "../../gen/secretgate/v1/admin_service_pb.js";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";
import { type AccessBed, CALLER_KINDS, type CallerKind, type Port, startAccessBed } from "../helpers/access-bed.js";

// The access table: every RPC of both services, for every kind of caller, on both ports — the
// expected outcome of each cell and, for the RPCs that list or stream, what the caller may see.
// The RPCs come from the generated descriptors: an RPC in the proto without rows here fails the
// first test. Rows marked with a finding of issue 23 failed before the access decision was one.
//
// The callers (test/helpers/access-bed.ts): none (no token), wrong (an unknown token), reader
// (reads everything, global location only), writer (reads, writes and deletes everything, global
// only), teamAdmin (admin for team-a only, every back end), backendAdmin (admin for every team,
// on `local` only), proxy (every name and team, sends team_settings, no admin) and admin (the
// admin token). Back ends: local (default, hosted_keys), vault, vault-wo (write_only).

/** A cell: the status the call fails with, or "ok", or a check of the answer (which must succeed). */
type Cell = Code | "ok" | ((answer: any, kind: CallerKind) => void | Promise<void>);

interface Row {
  rpc: DescMethod;
  /** What the row asks, in a few words. */
  what: string;
  request: Record<string, unknown>;
  cells: Record<CallerKind, Cell>;
  /** The finding of issue 23 the row reproduces. */
  finding?: string;
}

const DENIED = Code.PermissionDenied;
const IDENTITY: Record<Exclude<CallerKind, "none" | "wrong">, string> = {
  reader: "reader",
  writer: "writer",
  teamAdmin: "team-admin",
  backendAdmin: "backend-admin",
  proxy: "proxy",
  admin: "admin",
};
/** The back ends each kind may reach (rules.backends over the configured ones). */
const REACHABLE: Record<CallerKind, readonly string[]> = {
  none: [],
  wrong: [],
  reader: ["local", "vault", "vault-wo"],
  writer: ["local", "vault", "vault-wo"],
  teamAdmin: ["local", "vault", "vault-wo"],
  backendAdmin: ["local"],
  proxy: ["local", "vault", "vault-wo"],
  admin: ["local", "vault", "vault-wo"],
};

/** Every authenticated kind's cell; the unauthenticated ones are refused before anything is decided. */
function cells(authenticated: Record<Exclude<CallerKind, "none" | "wrong">, Cell>): Record<CallerKind, Cell> {
  return { none: Code.Unauthenticated, wrong: Code.Unauthenticated, ...authenticated };
}

/** The one item of a Read: found, or failed with `code`. */
const item =
  (expected: "found" | Code) => (answer: { results: Array<{ found: boolean; error?: { code: number } }> }) => {
    const [result] = answer.results;
    const shown = JSON.stringify(result?.error ?? { found: result?.found });
    if (expected === "found") expect(result?.found, shown).toBe(true);
    else expect(result?.error?.code, shown).toBe(expected);
  };

const value = () => `sk-table-${randomBytes(6).toString("hex")}`;

const ROWS: Row[] = [
  // SecretService: what a proxy calls.
  {
    rpc: SecretService.method.read,
    what: "a provider key in the global location",
    request: { names: ["OPENAI_API_KEY"] },
    cells: cells({
      reader: item("found"),
      writer: item("found"),
      teamAdmin: DENIED,
      backendAdmin: item("found"),
      proxy: item("found"),
      admin: item("found"),
    }),
  },
  {
    rpc: SecretService.method.read,
    what: "a name of team-v, whose settings place it on vault",
    request: { names: ["VAULT_KEY"], teamId: "team-v" },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: item(DENIED),
      proxy: item("found"),
      admin: item("found"),
    }),
  },
  {
    rpc: SecretService.method.read,
    what: "with team_settings of its own",
    request: { names: ["OPENAI_API_KEY"], teamSettings: { prefix: "x/" } },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: item("found"),
      proxy: item("found"),
      admin: item("found"),
    }),
  },
  {
    rpc: SecretService.method.read,
    what: "a virtual key, with hosted_keys set",
    request: { names: ["vk-table"], virtualKey: true },
    cells: cells({
      reader: item("found"),
      writer: item("found"),
      teamAdmin: DENIED,
      backendAdmin: item("found"),
      proxy: item("found"),
      admin: item("found"),
    }),
    finding: "with hosted_keys set, a stored virtual key read back NOT_HOSTED",
  },
  {
    rpc: SecretService.method.write,
    what: "a name in the global location",
    request: { name: "TABLE_WRITTEN", value: "sk-table-written" },
    cells: cells({ reader: DENIED, writer: "ok", teamAdmin: DENIED, backendAdmin: "ok", proxy: "ok", admin: "ok" }),
  },
  {
    rpc: SecretService.method.write,
    what: "a name of team-a (on local)",
    request: { name: "TABLE_TEAM", value: "sk-table-team", teamId: "team-a" },
    cells: cells({ reader: DENIED, writer: DENIED, teamAdmin: "ok", backendAdmin: "ok", proxy: "ok", admin: "ok" }),
  },
  {
    rpc: SecretService.method.write,
    what: "a virtual key of team-s (stored on vault) with team_settings lacking `backend`",
    request: {
      name: "k-inline",
      value: "sk-table-inline",
      virtualKey: true,
      teamId: "team-s",
      teamSettings: { path_prefix: "table-keys" },
    },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: DENIED,
      proxy: (answer) => expect(answer).toMatchObject({ source: "vault", name: "litellm/k-inline" }),
      admin: (answer) => expect(answer).toMatchObject({ source: "vault", name: "litellm/k-inline" }),
    }),
    finding:
      "inline team_settings without `backend` were validated on the stored back end, then sent to the default one",
  },
  {
    rpc: SecretService.method.write,
    what: "for team-v (stored on vault) with team_settings moving it to local",
    request: { name: "TABLE_MOVED", value: "sk-table-moved", teamId: "team-v", teamSettings: { backend: "local" } },
    cells: cells({ reader: DENIED, writer: DENIED, teamAdmin: DENIED, backendAdmin: DENIED, proxy: "ok", admin: "ok" }),
  },
  {
    rpc: SecretService.method.delete,
    what: "a name in the global location that does not exist",
    request: { name: "TABLE_NEVER_WRITTEN" },
    cells: cells({
      reader: DENIED,
      writer: Code.NotFound,
      teamAdmin: DENIED,
      backendAdmin: Code.NotFound,
      proxy: Code.NotFound,
      admin: Code.NotFound,
    }),
  },
  {
    rpc: SecretService.method.delete,
    what: "a name on vault, addressed by reference",
    request: { name: "vault://TABLE_NEVER_WRITTEN" },
    cells: cells({
      reader: DENIED,
      writer: Code.NotFound,
      teamAdmin: DENIED,
      backendAdmin: DENIED,
      proxy: Code.NotFound,
      admin: Code.NotFound,
    }),
  },
  {
    rpc: SecretService.method.rotate,
    what: "a name in the global location, in place",
    request: { currentName: "TABLE_ROTATED", value: "sk-table-rotated" },
    cells: cells({ reader: DENIED, writer: "ok", teamAdmin: DENIED, backendAdmin: "ok", proxy: "ok", admin: "ok" }),
  },
  {
    rpc: SecretService.method.listHosted,
    what: "every back end the caller may reach",
    request: {},
    cells: cells({
      reader: (answer, kind) => hostedWithin(answer, kind),
      writer: (answer, kind) => hostedWithin(answer, kind),
      teamAdmin: DENIED,
      backendAdmin: (answer, kind) => hostedWithin(answer, kind),
      proxy: (answer, kind) => hostedWithin(answer, kind),
      admin: (answer, kind) => hostedWithin(answer, kind),
    }),
  },
  {
    rpc: SecretService.method.listHosted,
    what: "vault, named",
    request: { backend: "vault" },
    cells: cells({ reader: "ok", writer: "ok", teamAdmin: DENIED, backendAdmin: DENIED, proxy: "ok", admin: "ok" }),
  },
  {
    rpc: SecretService.method.setTeamSettings,
    what: "team-a's, on local",
    request: { teamId: "team-a", settings: { prefix: "a/" } },
    cells: cells({ reader: DENIED, writer: DENIED, teamAdmin: "ok", backendAdmin: "ok", proxy: DENIED, admin: "ok" }),
  },
  {
    rpc: SecretService.method.setTeamSettings,
    what: "team-v's, on vault, unchanged",
    request: { teamId: "team-v", settings: { backend: "vault", namespace: "team-ns" } },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: DENIED,
      proxy: DENIED,
      admin: "ok",
    }),
  },
  {
    rpc: SecretService.method.setTeamSettings,
    what: "team-v's cleared (`settings: {}`)",
    request: { teamId: "team-v", settings: {} },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: DENIED,
      proxy: DENIED,
      admin: "ok",
    }),
    finding: "SetTeamSettings{settings:{}} cleared the settings of a team placed on a back end the admin may not use",
  },
  {
    rpc: SecretService.method.getTeamSettings,
    what: "team-a's, on local",
    request: { teamId: "team-a" },
    cells: cells({ reader: DENIED, writer: DENIED, teamAdmin: "ok", backendAdmin: "ok", proxy: DENIED, admin: "ok" }),
  },
  {
    rpc: SecretService.method.getTeamSettings,
    what: "team-s's, on vault",
    request: { teamId: "team-s" },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: DENIED,
      proxy: DENIED,
      admin: (answer) => expect(answer.settings).toMatchObject({ backend: "vault" }),
    }),
    finding: "GetTeamSettings showed the settings of a team placed on a back end the admin may not use",
  },

  // AdminService: what an operator calls.
  {
    rpc: AdminService.method.whoAmI,
    what: "the caller itself",
    request: {},
    cells: cells({
      reader: (answer, kind) => whoAmI(answer, kind),
      writer: (answer, kind) => whoAmI(answer, kind),
      teamAdmin: (answer, kind) => whoAmI(answer, kind),
      backendAdmin: (answer, kind) => whoAmI(answer, kind),
      proxy: (answer, kind) => whoAmI(answer, kind),
      admin: (answer, kind) => whoAmI(answer, kind),
    }),
  },
  {
    rpc: AdminService.method.listTeams,
    what: "the teams the caller administers",
    request: {},
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: (answer) => expect(teamIds(answer)).toEqual(["team-a"]),
      backendAdmin: (answer) => expect(teamIds(answer)).toEqual(["team-a", "team-l"]),
      proxy: DENIED,
      admin: (answer) => expect(teamIds(answer)).toEqual(["team-a", "team-l", "team-s", "team-v"]),
    }),
    finding:
      "the filters that exist were unguarded: ListTeams' team/back-end filter could be removed with every test passing",
  },
  {
    rpc: AdminService.method.testTeamSettings,
    what: "team-a's settings",
    request: { teamId: "team-a", settings: { prefix: "a/" } },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: reachable("local"),
      backendAdmin: reachable("local"),
      proxy: DENIED,
      admin: reachable("local"),
    }),
  },
  {
    rpc: AdminService.method.testTeamSettings,
    what: "settings in the global location (no team id)",
    request: { teamId: "", settings: {} },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: reachable("local"),
      proxy: DENIED,
      admin: reachable("local"),
    }),
    finding: "TestTeamSettings with an empty team id let a team-bound admin probe the global location",
  },
  {
    rpc: AdminService.method.testTeamSettings,
    what: "settings that name vault",
    request: { teamId: "", settings: { backend: "vault" } },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: DENIED,
      proxy: DENIED,
      admin: reachable("vault"),
    }),
  },
  {
    rpc: AdminService.method.describeBackends,
    what: "the back ends the caller may reach",
    request: {},
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: (answer, kind) =>
        expect(answer.backends.map((backend: { name: string }) => backend.name)).toEqual(REACHABLE[kind]),
      backendAdmin: (answer, kind) =>
        expect(answer.backends.map((backend: { name: string }) => backend.name)).toEqual(REACHABLE[kind]),
      proxy: DENIED,
      admin: (answer, kind) =>
        expect(answer.backends.map((backend: { name: string }) => backend.name)).toEqual(REACHABLE[kind]),
    }),
  },
  {
    rpc: AdminService.method.getStats,
    what: "the counters of the back ends the caller may reach",
    request: {},
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: (answer, kind) =>
        expect(answer.backends.map((backend: { name: string }) => backend.name)).toEqual(REACHABLE[kind]),
      backendAdmin: (answer, kind) =>
        expect(answer.backends.map((backend: { name: string }) => backend.name)).toEqual(REACHABLE[kind]),
      proxy: DENIED,
      admin: (answer, kind) =>
        expect(answer.backends.map((backend: { name: string }) => backend.name)).toEqual(REACHABLE[kind]),
    }),
    finding:
      "the filters that exist were unguarded: GetStats could show every back end to a back-end-bound admin with every test passing",
  },
  {
    rpc: AdminService.method.listCallers,
    what: "the identities the caller administers",
    request: {},
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: (answer) => expect(callerNames(answer)).toEqual(["scoped-admin", "team-admin", "team-proxy"]),
      backendAdmin: (answer) => expect(callerNames(answer)).toEqual(["backend-admin", "scoped-admin", "team-proxy"]),
      proxy: DENIED,
      admin: (answer) =>
        expect(callerNames(answer)).toEqual([
          "admin",
          "backend-admin",
          "proxy",
          "reader",
          "scoped-admin",
          "team-admin",
          "team-proxy",
          "writer",
        ]),
    }),
    finding: "ListCallers showed a bound admin every identity",
  },
  {
    rpc: AdminService.method.tailAudit,
    what: "the records the caller may see, as they are written",
    request: {},
    cells: cells({ reader: DENIED, writer: DENIED, teamAdmin: "ok", backendAdmin: "ok", proxy: DENIED, admin: "ok" }),
    finding: "TailAudit showed a bound admin every record",
  },
  {
    rpc: AdminService.method.planMigration,
    what: "from local to vault (the global location)",
    request: { fromBackend: "local", toBackend: "vault", match: ["TABLE_*", "OPENAI_API_KEY"] },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: DENIED,
      proxy: DENIED,
      admin: (answer) => {
        // Only OPENAI_API_KEY is in local's hosted_keys: Read serves no other of these names from it.
        expect(answer.names).toEqual(["OPENAI_API_KEY"]);
        expect(answer.leftOut).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ name: "TABLE_ROTATED", reason: "it is not in hosted_keys" }),
          ]),
        );
      },
    }),
    finding: "PlanMigration never asked whether a team-bound admin may act in the global location",
  },
  {
    rpc: AdminService.method.planMigration,
    what: "from a write_only back end",
    request: { fromBackend: "vault-wo", toBackend: "local" },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: DENIED,
      proxy: DENIED,
      admin: Code.FailedPrecondition,
    }),
    finding: "migration read its source around its access mode",
  },
  {
    rpc: AdminService.method.migrateSecret,
    what: "a dry run of one name from local to vault",
    request: { fromBackend: "local", toBackend: "vault", name: "OPENAI_API_KEY", dryRun: true },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: DENIED,
      proxy: DENIED,
      admin: "ok",
    }),
    finding: "MigrateSecret never asked whether a team-bound admin may act in the global location",
  },
  {
    rpc: AdminService.method.migrateSecret,
    what: "a name outside the source's hosted_keys",
    request: { fromBackend: "local", toBackend: "vault", name: "TABLE_WRITTEN", dryRun: true },
    cells: cells({
      reader: DENIED,
      writer: DENIED,
      teamAdmin: DENIED,
      backendAdmin: DENIED,
      proxy: DENIED,
      admin: Code.FailedPrecondition,
    }),
    finding: "migration read its source around its hosted keys",
  },
];

function hostedWithin(answer: { keys: Array<{ backend: string }> }, kind: CallerKind): void {
  const seen = new Set(answer.keys.map((key) => key.backend));
  expect([...seen].filter((backend) => !REACHABLE[kind].includes(backend))).toEqual([]);
  expect(seen.has("local")).toBe(true);
}

function whoAmI(answer: { caller?: Caller }, kind: CallerKind): void {
  expect(answer.caller?.name).toBe(IDENTITY[kind as keyof typeof IDENTITY]);
}

function teamIds(answer: { teams: Array<{ teamId: string }> }): string[] {
  return answer.teams.map((team) => team.teamId);
}

function callerNames(answer: { callers: Caller[] }): string[] {
  return answer.callers.map((caller) => caller.name).sort();
}

/** A TestTeamSettings answer: `backend` was probed and answered. */
function reachable(backend: string): Cell {
  return (answer: { backend: string; reachable: boolean }) =>
    expect(answer).toMatchObject({ backend, reachable: true });
}

let bed: AccessBed;

beforeAll(async () => {
  bed = await startAccessBed();
  const admin = bed.secrets("admin");
  await admin.setTeamSettings({ teamId: "team-a", settings: { prefix: "a/" } });
  await admin.setTeamSettings({ teamId: "team-l", settings: { description: "a team on local" } });
  await admin.setTeamSettings({ teamId: "team-v", settings: { backend: "vault", namespace: "team-ns" } });
  await admin.setTeamSettings({ teamId: "team-s", settings: { backend: "vault", namespace: "team-ns" } });
  await admin.write({ name: "OPENAI_API_KEY", value: value() });
  await admin.write({ name: "VAULT_KEY", value: value(), teamId: "team-v" });
  await admin.write({ name: "vk-table", value: value(), virtualKey: true });
  await admin.write({ name: "TABLE_ROTATED", value: value() });
});

afterAll(async () => {
  await bed?.close();
});

describe("the access table", () => {
  it("has rows for every RPC of both services, and a cell for every kind of caller in each", () => {
    const rpcs = [...SecretService.methods, ...AdminService.methods];
    const withoutRows = rpcs
      .filter((rpc) => !ROWS.some((row) => row.rpc === rpc))
      .map((rpc) => `${rpc.parent.typeName}/${rpc.name}`);
    expect(withoutRows).toEqual([]);
    for (const row of ROWS)
      expect(Object.keys(row.cells).sort(), `${row.rpc.name}: ${row.what}`).toEqual([...CALLER_KINDS].sort());
  });
});

for (const port of ["grpc", "http"] as const satisfies readonly Port[]) {
  describe(`on the ${port === "grpc" ? "gRPC port" : "HTTP port (Connect, JSON)"}`, () => {
    for (const row of ROWS) {
      const title = `${row.rpc.parent.name}/${row.rpc.name} ${row.what}${row.finding ? ` (finding: ${row.finding})` : ""}`;
      it.each(CALLER_KINDS.map((kind) => [kind]))(`${title}, as %s`, async (kind) => {
        const cell = row.cells[kind];
        // Clearing team-v's settings is the full admin's to do last: the other rows rely on them.
        if (
          row.rpc === SecretService.method.setTeamSettings &&
          row.what.startsWith("team-v's cleared") &&
          cell === "ok"
        )
          return expectClearedAndRestored(port);
        const outcome = await call(row, kind, port);
        if (typeof cell === "number") {
          expect(outcome.code, `${kind}: ${outcome.message}`).toBe(cell);
          return;
        }
        expect(outcome.code, `${kind}: ${outcome.message}`).toBeUndefined();
        if (typeof cell === "function") await cell(outcome.answer, kind);
      });
    }
  });
}

/** Calls the row's RPC as `kind` on `port`: a stream is open once its first record arrives. */
async function call(
  row: Row,
  kind: CallerKind,
  port: Port,
): Promise<{ answer?: unknown; code?: Code; message?: string }> {
  const client = (row.rpc.parent === AdminService
    ? bed.admin(kind, port)
    : bed.secrets(kind, port)) as unknown as Record<string, (request: unknown, options?: unknown) => unknown>;
  try {
    if (row.rpc.methodKind === "server_streaming") return { answer: await tailAsSeenBy(client, kind, port) };
    return { answer: await client[row.rpc.localName]!(row.request) };
  } catch (error) {
    const failure = ConnectError.from(error);
    return { code: failure.code, message: failure.rawMessage };
  }
}

/**
 * Opens a tail as `kind`, makes calls the different admins may and may not see, then one every
 * admin may see (a team-a Write on local); returns once that arrives, having checked that every
 * record before it was the caller's to see: its team one it may act for, every back end one it may reach.
 */
async function tailAsSeenBy(
  client: Record<string, (request: unknown, options?: unknown) => unknown>,
  kind: CallerKind,
  port: Port,
): Promise<AuditRecord[]> {
  const controller = new AbortController();
  const tail = (client.tailAudit!({}, { signal: controller.signal }) as AsyncIterable<{ record?: AuditRecord }>)[
    Symbol.asyncIterator
  ]();
  try {
    // The tail is open when its first answer (or refusal) comes; the calls go out meanwhile.
    const first = tail.next();
    const marker = `TABLE_MARKER_${kind}_${port}_${randomBytes(3).toString("hex")}`;
    const calls = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await bed.secrets("reader").read({ names: ["OPENAI_API_KEY"] });
      await bed.secrets("proxy").write({ name: "TABLE_TAIL_VAULT", value: value(), teamId: "team-s" });
      await bed.secrets("proxy").write({ name: "TABLE_TAIL_B", value: value(), teamId: "team-b" });
      await bed.secrets("proxy").write({ name: marker, value: value(), teamId: "team-a" });
    })();
    const seen: AuditRecord[] = [];
    for (let next = await first; ; next = await tail.next()) {
      if (next.done) throw new Error("the tail ended");
      const record = next.value.record!;
      seen.push(record);
      if (record.names.includes(marker)) break;
      expect(seen.length).toBeLessThan(200);
    }
    await calls;
    const visible = (record: AuditRecord) => {
      const json = JSON.parse(record.json) as Record<string, unknown>;
      const backends = [
        ...((json.backends as string[] | undefined) ?? []),
        ...[json.backend, json.source].filter((name): name is string => typeof name === "string"),
      ];
      const teamOk = kind === "teamAdmin" ? record.teamId === "team-a" : true;
      return teamOk && backends.every((backend) => REACHABLE[kind].includes(backend));
    };
    expect(seen.filter((record) => !visible(record)).map((record) => record.json)).toEqual([]);
    // What only the unbound admin sees, it does see.
    if (kind === "admin") expect(seen.some((record) => record.teamId === "team-b")).toBe(true);
    return seen;
  } finally {
    controller.abort();
  }
}

/** The full admin clears team-v's settings (allowed), then stores them again for the rows that rely on them. */
async function expectClearedAndRestored(port: Port): Promise<void> {
  const admin = bed.secrets("admin", port);
  expect(await admin.setTeamSettings({ teamId: "team-v", settings: {} })).toMatchObject({ configured: false });
  await admin.setTeamSettings({ teamId: "team-v", settings: { backend: "vault", namespace: "team-ns" } });
}
