import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  BackendStatsSchema,
  CallerSchema,
  GetStatsResponseSchema,
  ListCallersResponseSchema,
  ListTeamsResponseSchema,
  TeamSummarySchema,
  TestTeamSettingsResponseSchema,
  WhoAmIResponseSchema,
  type Caller,
  type GetStatsRequest,
  type GetStatsResponse,
  type ListCallersRequest,
  type ListCallersResponse,
  type ListTeamsRequest,
  type ListTeamsResponse,
  type TailAuditRequest,
  type TailAuditResponse,
  type TestTeamSettingsRequest,
  type TestTeamSettingsResponse,
  type WhoAmIRequest,
  type WhoAmIResponse,
} from "../../gen/secretgate/v1/secret_service_pb.js";
import type { Identity } from "../auth/identity.js";
import type { TeamSettingsStore } from "../storage/team-settings-store.js";
import type { AuditFeed } from "./audit-feed.js";
import type { AuthorizedCall } from "./call-context.js";
import { invalidArgument, permissionDenied, statusName } from "./errors.js";
import { isValidTeamId, validateTeamId } from "./names.js";
import { PROBE_NAME } from "./reachability.js";
import type { ServiceBackends } from "./service-backends.js";
import { SERIES_BUCKET_SECONDS, WINDOW_SECONDS } from "./stats/windowed-counters.js";
import { validateTeamSettingsOn, withStoredCredentials } from "./team-settings.js";

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
const MAX_PAGE_TOKEN_CHARS = 512;
/** A connection test waits no longer than this, whatever the caller's deadline. */
const TEST_TIMEOUT_MS = 10_000;

export interface OperatorServiceDependencies {
  backends: ServiceBackends;
  teams: TeamSettingsStore;
  /** Every configured identity, in configuration order. */
  identities: readonly Identity[];
  audit: AuditFeed;
}

/**
 * The operator's RPCs (the console's, and any client's): who the caller is, which teams have
 * settings, whether edited settings reach their back end, the live audit tail, the back ends'
 * last five minutes, and the configured callers. All but WhoAmI need an admin identity; none
 * returns a value, a token or a credential.
 */
export class OperatorService {
  constructor(private readonly deps: OperatorServiceDependencies) {}

  whoAmI(_request: WhoAmIRequest, context: AuthorizedCall): WhoAmIResponse {
    return create(WhoAmIResponseSchema, { caller: callerOf(context.identity) });
  }

  async listTeams(request: ListTeamsRequest, context: AuthorizedCall): Promise<ListTeamsResponse> {
    requireAdmin(context, "list teams");
    if (request.pageSize < 0 || request.pageSize > MAX_PAGE_SIZE) throw invalidArgument(`page_size must be 0 to ${MAX_PAGE_SIZE}`);
    const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
    const after = pageTokenTeam(request.pageToken);
    const { identity } = context;
    const { backends } = this.deps;
    // One more than the page: whether there is a next one.
    const rows = await this.deps.teams.list(after, pageSize + 1);
    const page = rows.slice(0, pageSize);
    const teams = page
      .map((row) => ({ row, backend: typeof row.settings.backend === "string" ? row.settings.backend : backends.default.name }))
      .filter(({ row, backend }) => identity.mayActFor(row.teamId) && identity.mayUse(backend))
      .map(({ row, backend }) => create(TeamSummarySchema, { teamId: row.teamId, backend, updatedAt: timestampFromMs(row.updatedAt.getTime()) }));
    const last = page.at(-1);
    return create(ListTeamsResponseSchema, { teams, nextPageToken: rows.length > pageSize && last ? Buffer.from(last.teamId, "utf8").toString("base64url") : "" });
  }

  async testTeamSettings(request: TestTeamSettingsRequest, context: AuthorizedCall): Promise<TestTeamSettingsResponse> {
    if (request.teamId !== "") validateTeamId(request.teamId);
    requireAdmin(context, "test team settings");
    if (request.teamId !== "" && !context.identity.mayActFor(request.teamId)) {
      throw permissionDenied(`${context.identity.name} may not act for team ${JSON.stringify(request.teamId)}`);
    }
    const { backends } = this.deps;
    const stored = request.teamId === "" ? undefined : (await this.deps.teams.get(request.teamId))?.settings;
    const sent = withStoredCredentials(backends, request.settings ?? {}, stored, "settings");
    const settings = validateTeamSettingsOn(backends, sent, "settings");
    const home = backends.homeOf(settings);
    if (!context.identity.mayUse(home.name)) throw permissionDenied(`${context.identity.name} may not use back end ${home.name}`);
    const deadline = Math.min(context.deadline ?? Infinity, Date.now() + TEST_TIMEOUT_MS);
    const timeout = AbortSignal.timeout(Math.max(0, deadline - Date.now()));
    const call = {
      teamId: request.teamId,
      team: backends.settingsOn(home, settings),
      signal: context.signal ? AbortSignal.any([timeout, context.signal]) : timeout,
      deadline,
    };
    // The driver itself, not the cache or the breaker: edited settings must not disturb either.
    try {
      await home.backend.driver.read(PROBE_NAME, call);
      return create(TestTeamSettingsResponseSchema, { backend: home.name, reachable: true, status: "OK" });
    } catch (error) {
      const failure = home.backend.toServiceError(error, call);
      return create(TestTeamSettingsResponseSchema, { backend: home.name, reachable: false, status: statusName(failure.code), message: failure.message });
    }
  }

  tailAudit(_request: TailAuditRequest, context: AuthorizedCall): AsyncIterable<TailAuditResponse> {
    requireAdmin(context, "tail the audit log");
    return this.deps.audit.subscribe(context.signal);
  }

  getStats(_request: GetStatsRequest, context: AuthorizedCall): GetStatsResponse {
    requireAdmin(context, "read the statistics");
    return create(GetStatsResponseSchema, {
      windowSeconds: WINDOW_SECONDS,
      bucketSeconds: SERIES_BUCKET_SECONDS,
      backends: this.deps.backends.all
        .filter((backend) => context.identity.mayUse(backend.name))
        .map((backend) => {
          const window = backend.backend.window.snapshot();
          return create(BackendStatsSchema, {
            name: backend.name,
            calls: BigInt(window.calls),
            errors: BigInt(window.errors),
            cacheHits: BigInt(window.cacheHits),
            cacheMisses: BigInt(window.cacheMisses),
            p50Ms: window.p50Ms,
            p99Ms: window.p99Ms,
            callsSeries: window.callsSeries.map(BigInt),
            errorsSeries: window.errorsSeries.map(BigInt),
          });
        }),
    });
  }

  listCallers(_request: ListCallersRequest, context: AuthorizedCall): ListCallersResponse {
    requireAdmin(context, "list the callers");
    return create(ListCallersResponseSchema, { callers: this.deps.identities.map(callerOf) });
  }
}

function requireAdmin(context: AuthorizedCall, what: string): void {
  if (!context.identity.admin) throw permissionDenied(`${context.identity.name} may not ${what} (needs admin)`);
}

/** An identity as ListCallers and WhoAmI show it: its rules, never its token. */
function callerOf(identity: Identity): Caller {
  const { rules, origin } = identity;
  return create(CallerSchema, {
    name: identity.name,
    kind: origin.kind,
    certificate: origin.certificate ?? "",
    read: rules.read,
    write: rules.write,
    delete: rules.delete,
    teams: rules.teams,
    backends: rules.backends,
    admin: rules.admin,
    inlineTeamSettings: rules.inline_team_settings,
  });
}

/** The team id a page token stands for ("" for the first page). */
function pageTokenTeam(token: string): string {
  if (token === "") return "";
  const teamId = token.length <= MAX_PAGE_TOKEN_CHARS && /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, "base64url").toString("utf8") : "";
  if (!isValidTeamId(teamId)) throw invalidArgument("page_token is not a token ListTeams returned");
  return teamId;
}

