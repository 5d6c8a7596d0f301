import { readFileSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import {
  type AdminClient,
  type ClientOptions,
  Code,
  ConnectError,
  createAdminClient,
  createSecretClient,
  type SecretClient,
} from "../../clients/typescript/src/index.js";
import { statusName } from "../core/errors.js";
import { ExitCode, exitCodeFor } from "./exit-codes.js";

const DEFAULT_ADDRESS = "127.0.0.1:50051";

export const CONNECTION_OPTIONS = {
  addr: { type: "string" },
  token: { type: "string" },
  ca: { type: "string" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

const NAME_OPTIONS = {
  ...CONNECTION_OPTIONS,
  backend: { type: "string" },
  team: { type: "string" },
  "team-settings": { type: "string" },
  "virtual-key": { type: "boolean" },
} as const satisfies ParseArgsConfig["options"];

const TEAM_SETTINGS_USAGE =
  `--team-settings JSON sends back-end settings for this call only (as ` +
  `\`team set\` stores them), merged over --team's.\n` +
  `--backend NAME addresses one of the server's back ends (as NAME://KEY ` +
  `would), bypassing its routes.`;

const COMMAND_USAGE: Record<string, string> = {
  read:
    `usage: secretgate read NAME [--bypass-cache] [--backend BACKEND] ` +
    `[--team TEAM] [--team-settings JSON] [--virtual-key] [--addr ADDR]\n` +
    `Prints the value to stdout exactly as stored (a newline is added only ` +
    `on a terminal).\n` +
    `${TEAM_SETTINGS_USAGE}`,
  write:
    `usage: secretgate write NAME [--binary] [--description TEXT] [--tag ` +
    `KEY=VALUE ...] [--backend BACKEND] [--team TEAM] [--team-settings JSON] ` +
    `[--virtual-key] [--addr ADDR]\n` +
    `Reads the value from stdin (one trailing newline is dropped from text ` +
    `values), e.g.\n` +
    `  printf %s "$KEY" | secretgate write OPENAI_API_KEY\n` +
    `${TEAM_SETTINGS_USAGE}`,
  delete:
    `usage: secretgate delete NAME [--force] [--backend BACKEND] [--team ` +
    `TEAM] [--team-settings JSON] [--virtual-key] [--addr ADDR]\n` +
    `${TEAM_SETTINGS_USAGE}`,
  backends: `usage: secretgate backends [--json] [--addr ADDR]
Describes the server's back ends (needs an admin token): name, system, access mode, whether it is
the default, reachability, circuit breaker and cache entries. --json prints everything the server
says, each back end's team-settings JSON Schema included.`,
  team: `usage: secretgate team get TEAM [--addr ADDR]
       secretgate team set TEAM (JSON | - | --clear) [--addr ADDR]
       secretgate team test TEAM (JSON | -) [--addr ADDR]
       secretgate team list [--addr ADDR]
"-" reads the JSON object from stdin (keeps credentials out of process lists); --clear removes every setting.
test probes the back end under the settings without storing them (exit 0 when it answered, 1 when not);
list prints every team with settings and its back end (admin).`,
  callers: `usage: secretgate callers [--json] [--addr ADDR]
Lists the server's configured identities and their rules (admin); never tokens.`,
  stats: `usage: secretgate stats [--json] [--addr ADDR]
Each back end's calls, errors, cache hits and misses and p50/p99 latency over the last five minutes (admin).`,
  audit: `usage: secretgate audit tail [--addr ADDR]
Prints the audit records the server writes from now on, one JSON line each, until interrupted (admin).`,
};

export class UsageError extends Error {}

/**
 * read, write, delete, team get|set|test|list, backends, callers, stats, audit tail: one call to a running server
 * through the TypeScript client.
 */
export async function runClientCommand(command: string, argv: string[]): Promise<number> {
  try {
    switch (command) {
      case "read":
        return await read(argv);
      case "write":
        return await write(argv);
      case "delete":
        return await remove(argv);
      case "backends":
        return await backends(argv);
      case "callers":
        return await callers(argv);
      case "stats":
        return await stats(argv);
      case "audit":
        return await auditTail(argv);
      default:
        return await team(argv);
    }
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      console.error(`secretgate: ${(error as Error).message}\n${COMMAND_USAGE[command]}`);
      return ExitCode.usage;
    }
    if (error instanceof ConnectError) return reportCallFailure(error);
    console.error(`secretgate: ${command} failed: ${(error as Error).message}`);
    return ExitCode.failure;
  }
}

async function read(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...NAME_OPTIONS, "bypass-cache": { type: "boolean" } });
  if (values.help) return help("read");
  const name = single(positionals, "NAME");
  const response = await connect(values).read({
    names: [name],
    backend: values.backend ?? "",
    teamId: values.team ?? "",
    ...teamSettings(values["team-settings"]),
    virtualKey: values["virtual-key"] ?? false,
    bypassCache: values["bypass-cache"] ?? false,
  });
  const result = response.results[0]!;
  if (result.error) {
    const resolved =
      result.resolvedName && result.resolvedName !== name ? ` (stored as ${JSON.stringify(result.resolvedName)})` : "";
    console.error(
      `secretgate: cannot read ${JSON.stringify(name)}${resolved}: ${result.error.status}: ${result.error.message}`,
    );
    return exitCodeFor(result.error.code as Code);
  }
  if (result.stale)
    console.error(
      `secretgate: warning: ${JSON.stringify(name)} was served from the cache because ${result.source} is failing`,
    );
  const bytes = result.binaryValue.length > 0 ? result.binaryValue : Buffer.from(result.value, "utf8");
  await writeOut(bytes);
  if (process.stdout.isTTY) await writeOut(Buffer.from("\n"));
  return ExitCode.ok;
}

async function write(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...NAME_OPTIONS,
    binary: { type: "boolean" },
    description: { type: "string" },
    tag: { type: "string", multiple: true },
  });
  if (values.help) return help("write");
  const name = single(positionals, "NAME");
  const tags = keyValuePairs(values.tag ?? [], "--tag");
  const sent = teamSettings(values["team-settings"]);
  const client = connect(values);
  if (process.stdin.isTTY) console.error("secretgate: reading the value from stdin; end it with Ctrl-D");
  const input = await readStdin();
  const value = values.binary ? { binaryValue: input } : { value: dropOneNewline(input.toString("utf8")) };
  const response = await client.write({
    name,
    ...value,
    description: values.description ?? "",
    tags,
    backend: values.backend ?? "",
    teamId: values.team ?? "",
    ...sent,
    virtualKey: values["virtual-key"] ?? false,
  });
  console.error(
    `secretgate: wrote ${JSON.stringify(response.name)} to ${response.source} (version ${response.version})`,
  );
  for (const warning of response.warnings) console.error(`secretgate: warning: ${warning}`);
  return ExitCode.ok;
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...NAME_OPTIONS, force: { type: "boolean" } });
  if (values.help) return help("delete");
  const name = single(positionals, "NAME");
  const response = await connect(values).delete({
    name,
    force: values.force ?? false,
    backend: values.backend ?? "",
    teamId: values.team ?? "",
    ...teamSettings(values["team-settings"]),
    virtualKey: values["virtual-key"] ?? false,
  });
  const recoverable = response.recoverable ? " (recoverable for the back end's recovery window)" : "";
  console.error(`secretgate: deleted ${JSON.stringify(response.name)}${recoverable}`);
  return ExitCode.ok;
}

async function team(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, clear: { type: "boolean" } });
  if (values.help) return help("team");
  const [action, teamId, json, ...extra] = positionals;
  if (action === "list") {
    if (teamId !== undefined) throw new UsageError("team list takes no arguments");
    return listTeams(connectAdmin(values));
  }
  if (teamId === undefined || extra.length > 0)
    throw new UsageError("expected team get TEAM, team set TEAM JSON, team test TEAM JSON or team list");
  if (action === "get") {
    if (json !== undefined) throw new UsageError("team get takes one TEAM");
    const response = await connect(values).getTeamSettings({ teamId });
    printJson({
      team_id: response.teamId,
      configured: response.configured,
      settings: response.settings ?? {},
      ...updatedAt(response.updatedAt),
    });
    return ExitCode.ok;
  }
  if (action === "test") {
    if (json === undefined) throw new UsageError("team test takes a JSON object or - (stdin)");
    const settings = parseSettings(json === "-" ? (await readStdin()).toString("utf8") : json, "team settings");
    const response = await connectAdmin(values).testTeamSettings({ teamId, settings });
    printJson({
      backend: response.backend,
      reachable: response.reachable,
      status: response.status,
      ...(response.message ? { message: response.message } : {}),
    });
    return response.reachable ? ExitCode.ok : ExitCode.failure;
  }
  if (action !== "set")
    throw new UsageError(`unknown team action ${JSON.stringify(action ?? "")}; expected get, set, test or list`);
  if ((json === undefined) === !values.clear)
    throw new UsageError("team set takes a JSON object, - (stdin) or --clear");
  const settings = values.clear
    ? {}
    : parseSettings(json === "-" ? (await readStdin()).toString("utf8") : json!, "team settings");
  const client = connect(values);
  const response = await client.setTeamSettings({ teamId, settings });
  printJson({ team_id: response.teamId, configured: response.configured, settings: response.settings ?? {} });
  return ExitCode.ok;
}

async function backends(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, json: { type: "boolean" } });
  if (values.help) return help("backends");
  if (positionals.length > 0) throw new UsageError("backends takes no arguments");
  const response = await connectAdmin(values).describeBackends({});
  if (values.json) {
    printJson(
      response.backends.map((backend) => ({
        name: backend.name,
        system: backend.system,
        capabilities: backend.capabilities ?? {},
        access_mode: backend.accessMode,
        is_default: backend.isDefault,
        reachable: backend.reachable,
        breaker_state: backend.breakerState,
        cache_entries: Number(backend.cacheEntries),
        team_settings_schema: backend.teamSettingsSchema ?? {},
      })),
    );
    return ExitCode.ok;
  }
  const rows = response.backends.map((backend) => {
    const can = backend.capabilities;
    const abilities = can
      ? [can.write && "write", can.binary && "binary", can.list && "list"].filter(Boolean).join(",")
      : "";
    return [
      backend.name,
      backend.system,
      backend.accessMode,
      backend.isDefault ? "yes" : "",
      backend.reachable ? "yes" : "no",
      backend.breakerState,
      String(backend.cacheEntries),
      abilities || "read",
    ];
  });
  printTable(["NAME", "SYSTEM", "ACCESS", "DEFAULT", "REACHABLE", "BREAKER", "CACHED", "CAN"], rows);
  return ExitCode.ok;
}

async function listTeams(client: AdminClient): Promise<number> {
  const rows: string[][] = [];
  let pageToken = "";
  do {
    const page = await client.listTeams({ pageSize: 1000, pageToken });
    for (const team of page.teams) rows.push([team.teamId, team.backend, updatedAt(team.updatedAt).updated_at ?? ""]);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  printTable(["TEAM", "BACKEND", "UPDATED"], rows);
  return ExitCode.ok;
}

async function callers(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, json: { type: "boolean" } });
  if (values.help) return help("callers");
  if (positionals.length > 0) throw new UsageError("callers takes no arguments");
  const { callers: listed } = await connectAdmin(values).listCallers({});
  if (values.json) {
    printJson(
      listed.map((caller) => ({
        name: caller.name,
        kind: caller.kind,
        ...(caller.certificate ? { certificate: caller.certificate } : {}),
        rules: {
          read: caller.read,
          write: caller.write,
          delete: caller.delete,
          teams: caller.teams,
          backends: caller.backends,
          admin: caller.admin,
          inline_team_settings: caller.inlineTeamSettings,
        },
      })),
    );
    return ExitCode.ok;
  }
  const list = (globs: string[]) => (globs.length === 0 ? "-" : globs.join(","));
  printTable(
    ["NAME", "KIND", "READ", "WRITE", "DELETE", "TEAMS", "BACKENDS", "ADMIN"],
    listed.map((caller) => [
      caller.name,
      caller.kind,
      list(caller.read),
      list(caller.write),
      list(caller.delete),
      list(caller.teams),
      list(caller.backends),
      caller.admin ? "yes" : "no",
    ]),
  );
  return ExitCode.ok;
}

async function stats(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, json: { type: "boolean" } });
  if (values.help) return help("stats");
  if (positionals.length > 0) throw new UsageError("stats takes no arguments");
  const response = await connectAdmin(values).getStats({});
  const rows = response.backends.map((backend) => ({
    name: backend.name,
    calls: Number(backend.calls),
    errors: Number(backend.errors),
    cache_hits: Number(backend.cacheHits),
    cache_misses: Number(backend.cacheMisses),
    p50_ms: backend.p50Ms,
    p99_ms: backend.p99Ms,
  }));
  if (values.json) {
    printJson({ window_seconds: response.windowSeconds, backends: rows });
    return ExitCode.ok;
  }
  printTable(
    ["BACKEND", "CALLS", "ERRORS", "CACHE HITS", "CACHE MISSES", "P50 MS", "P99 MS"],
    rows.map((row) => [
      row.name,
      String(row.calls),
      String(row.errors),
      String(row.cache_hits),
      String(row.cache_misses),
      `<=${row.p50_ms}`,
      `<=${row.p99_ms}`,
    ]),
  );
  return ExitCode.ok;
}

async function auditTail(argv: string[]): Promise<number> {
  // No deadline: a tail runs until the operator stops it.
  const { values, positionals } = parse(argv, CONNECTION_OPTIONS);
  if (values.help) return help("audit");
  if (positionals.length !== 1 || positionals[0] !== "tail") throw new UsageError("expected audit tail");
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  try {
    for await (const { record } of connectAdmin(values).tailAudit({}, { signal: stop.signal, timeoutMs: 0 })) {
      if (record) console.log(record.json);
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  }
  return ExitCode.ok;
}

type ConnectionValues = {
  addr?: string | undefined;
  token?: string | undefined;
  ca?: string | undefined;
  timeout?: string | undefined;
};

/**
 * A SecretService client (what a proxy calls) for the server --addr (or SECRETGATE_ADDR) names, with --token, --ca
 * and --timeout (`defaultTimeoutSeconds` without it).
 */
export function connect(values: ConnectionValues, defaultTimeoutSeconds = 10): SecretClient {
  return connectWith(values, defaultTimeoutSeconds, createSecretClient);
}

/** An AdminService client (what an operator calls), as `connect` makes one. */
export function connectAdmin(values: ConnectionValues, defaultTimeoutSeconds = 10): AdminClient {
  return connectWith(values, defaultTimeoutSeconds, createAdminClient);
}

function connectWith<C>(
  values: ConnectionValues,
  defaultTimeoutSeconds: number,
  create: (url: string, options: ClientOptions) => C,
): C {
  const address = values.addr ?? (process.env.SECRETGATE_ADDR || DEFAULT_ADDRESS);
  const url = /^https?:\/\//.test(address) ? address : `http://${address}`;
  const token = values.token ?? (process.env.SECRETGATE_TOKEN || undefined);
  const timeoutSeconds = timeoutOption(values.timeout, defaultTimeoutSeconds);
  let ca: Buffer | undefined;
  if (values.ca !== undefined) {
    try {
      ca = readFileSync(values.ca);
    } catch (error) {
      throw new UsageError(`cannot read --ca ${values.ca}: ${(error as Error).message}`);
    }
  }
  try {
    return create(url, {
      defaultTimeoutMs: timeoutSeconds * 1000,
      ...(token ? { token } : {}),
      ...(ca ? { nodeOptions: { ca } } : {}),
    });
  } catch (error) {
    throw new UsageError(`--addr ${JSON.stringify(address)} is not a server address: ${(error as Error).message}`);
  }
}

/** --timeout SECONDS, a positive number. */
export function timeoutOption(value: string | undefined, defaultSeconds: number): number {
  const seconds = value === undefined ? defaultSeconds : Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError("--timeout must be a positive number of seconds");
  return seconds;
}

export function reportCallFailure(error: ConnectError): number {
  const status = statusName(error.code);
  const hint =
    error.code === Code.Unavailable
      ? " (is the server running at that address? set --addr or SECRETGATE_ADDR)"
      : error.code === Code.Unauthenticated
        ? " (set SECRETGATE_TOKEN or --token)"
        : "";
  console.error(`secretgate: ${status}: ${error.rawMessage}${hint}`);
  return exitCodeFor(error.code);
}

function parse<T extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: T) {
  return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
}

function single(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}, got ${positionals.length}`);
  return positionals[0]!;
}

function keyValuePairs(pairs: string[], flag: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf("=");
    if (equals <= 0) throw new UsageError(`${flag} ${JSON.stringify(pair)} must be KEY=VALUE`);
    result[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return result;
}

function parseSettings(text: string, what: string): Record<string, never> {
  let settings: unknown;
  try {
    settings = JSON.parse(text);
  } catch {
    // The text may hold credentials: the message does not repeat it.
    throw new UsageError(`${what}: not valid JSON`);
  }
  if (settings === null || typeof settings !== "object" || Array.isArray(settings))
    throw new UsageError(`${what}: must be a JSON object`);
  return settings as Record<string, never>;
}

/** A call's own team settings from --team-settings, as request fields (none when the option is absent). */
function teamSettings(json: string | undefined): { teamSettings?: Record<string, never> } {
  return json === undefined ? {} : { teamSettings: parseSettings(json, "--team-settings") };
}

function updatedAt(timestamp: { seconds: bigint; nanos: number } | undefined): { updated_at?: string } {
  if (!timestamp) return {};
  return { updated_at: new Date(Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1e6)).toISOString() };
}

function dropOneNewline(text: string): string {
  return text.endsWith("\r\n") ? text.slice(0, -2) : text.endsWith("\n") ? text.slice(0, -1) : text;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function writeOut(bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(bytes, (error) => (error ? reject(error) : resolve())));
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  for (const row of [header, ...rows])
    console.log(
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join("  ")
        .trimEnd(),
    );
}

function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

function help(command: string): number {
  console.log(COMMAND_USAGE[command]);
  return ExitCode.ok;
}

export function isParseArgsError(error: unknown): boolean {
  return (
    typeof (error as { code?: unknown }).code === "string" &&
    (error as { code: string }).code.startsWith("ERR_PARSE_ARGS")
  );
}
