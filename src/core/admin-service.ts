import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type AdminService as AdminServiceDescriptor,
  BackendStatsSchema,
  type Caller,
  CallerSchema,
  type DescribeBackendsRequest,
  type DescribeBackendsResponse,
  type GetStatsRequest,
  type GetStatsResponse,
  GetStatsResponseSchema,
  type ListCallersRequest,
  type ListCallersResponse,
  ListCallersResponseSchema,
  type ListTeamsRequest,
  type ListTeamsResponse,
  ListTeamsResponseSchema,
  type MigrateSecretRequest,
  type MigrateSecretResponse,
  type PlanMigrationRequest,
  type PlanMigrationResponse,
  type TailAuditRequest,
  type TailAuditResponse,
  TeamSummarySchema,
  type TestTeamSettingsRequest,
  type TestTeamSettingsResponse,
  TestTeamSettingsResponseSchema,
  type WhoAmIRequest,
  type WhoAmIResponse,
  WhoAmIResponseSchema,
} from "../../gen/secretgate/v1/admin_service_pb.js";
import type { Identity } from "../auth/identity.js";
import type { TeamSettingsStore } from "../storage/team-settings-store.js";
import { Access } from "./access.js";
import type { AuditFeed } from "./audit-feed.js";
import { describeBackends } from "./backend-description.js";
import type { Backends } from "./backends.js";
import type { AuthorizedCall, ServiceImplementation } from "./call-context.js";
import { invalidArgument, statusName } from "./errors.js";
import { Migration } from "./migration.js";
import { isValidTeamId } from "./names.js";
import { PROBE_NAME } from "./reachability.js";
import { SERIES_BUCKET_SECONDS, WINDOW_SECONDS } from "./stats/windowed-counters.js";
import { validateTeamSettingsOn, withStoredCredentials } from "./team-settings.js";

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
const MAX_PAGE_TOKEN_CHARS = 512;
/** A connection test waits no longer than this, whatever the caller's deadline. */
const TEST_TIMEOUT_MS = 10_000;

export interface AdminServiceDependencies {
  backends: Backends;
  teams: TeamSettingsStore;
  /** The one access decision every call asks (one over `backends` and `teams` when not given). */
  access?: Access;
  /** Every configured identity, in configuration order. */
  identities: readonly Identity[];
  audit: AuditFeed;
}

/**
 * The one implementation of secretgate.v1.AdminService, what an operator calls (the console,
 * the CLI, any client): who the caller is, the back ends and their last five minutes, which teams
 * have settings and whether edited settings reach their back end, the configured callers, the live
 * audit tail, and moving secrets between back ends. All but WhoAmI pass the one admin check
 * (Access.forAdmin); what each then sees or changes, the admin's scope decides, by the rules its
 * data calls follow. None returns a value, a token or a credential.
 */
export class AdminService implements ServiceImplementation<typeof AdminServiceDescriptor> {
  private readonly migration: Migration;
  private readonly access: Access;

  constructor(private readonly deps: AdminServiceDependencies) {
    this.access = deps.access ?? new Access(deps.backends, deps.teams);
    this.migration = new Migration((name) => deps.backends.get(name));
  }

  whoAmI(_request: WhoAmIRequest, context: AuthorizedCall): WhoAmIResponse {
    return create(WhoAmIResponseSchema, { caller: callerOf(context.identity) });
  }

  /** The teams with stored settings the admin may administer: act for, on a back end it may reach. */
  async listTeams(request: ListTeamsRequest, context: AuthorizedCall): Promise<ListTeamsResponse> {
    const scope = this.access.forAdmin(context, "list teams");
    if (request.pageSize < 0 || request.pageSize > MAX_PAGE_SIZE)
      throw invalidArgument(`page_size must be 0 to ${MAX_PAGE_SIZE}`);
    const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
    const after = pageTokenTeam(request.pageToken);
    const { backends } = this.deps;
    // One more than the page: whether there is a next one.
    const rows = await this.deps.teams.list(after, pageSize + 1);
    const page = rows.slice(0, pageSize);
    const teams = page
      .filter((row) => scope.maySeeTeam(row.teamId, row.settings))
      .map((row) =>
        create(TeamSummarySchema, {
          teamId: row.teamId,
          backend: backends.homeName(row.settings),
          updatedAt: timestampFromMs(row.updatedAt.getTime()),
        }),
      );
    const last = page.at(-1);
    return create(ListTeamsResponseSchema, {
      teams,
      nextPageToken: rows.length > pageSize && last ? Buffer.from(last.teamId, "utf8").toString("base64url") : "",
    });
  }

  /**
   * Probes the back end under edited settings. With a team, the admin must administer it (its
   * stored credentials may stand in for redacted ones); without one, the probe runs in the global
   * location, which an admin bound to its teams may not reach. Either way it must reach the back
   * end the settings name.
   */
  async testTeamSettings(request: TestTeamSettingsRequest, context: AuthorizedCall): Promise<TestTeamSettingsResponse> {
    const scope = this.access.forAdmin(context, "test team settings");
    const { backends } = this.deps;
    let stored: Record<string, unknown> | undefined;
    if (request.teamId === "") scope.requireGlobal("test team settings");
    else stored = (await scope.administer(request.teamId))?.settings;
    const sent = withStoredCredentials(backends, request.settings ?? {}, stored, "settings");
    const settings = validateTeamSettingsOn(backends, sent, "settings");
    const home = backends.homeOf(settings);
    scope.reach(home);
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
      await home.driver.driver.read(PROBE_NAME, call);
      return create(TestTeamSettingsResponseSchema, { backend: home.name, reachable: true, status: "OK" });
    } catch (error) {
      const failure = home.driver.toServiceError(error, call);
      return create(TestTeamSettingsResponseSchema, {
        backend: home.name,
        reachable: false,
        status: statusName(failure.code),
        message: failure.message,
      });
    }
  }

  /** The records the admin may see (AdminScope.maySeeRecord), as they are written. */
  tailAudit(_request: TailAuditRequest, context: AuthorizedCall): AsyncIterable<TailAuditResponse> {
    const scope = this.access.forAdmin(context, "tail the audit log");
    return this.deps.audit.subscribe(context.signal, (record) => scope.maySeeRecord(record));
  }

  /** Every back end the admin may reach: what it is and how it is doing. */
  describeBackends(_request: DescribeBackendsRequest, context: AuthorizedCall): DescribeBackendsResponse {
    const scope = this.access.forAdmin(context, "describe the back ends");
    return describeBackends(
      this.deps.backends.all.filter((backend) => scope.canReach(backend.name)),
      this.deps.backends.default,
    );
  }

  /** The counters of every back end the admin may reach. */
  getStats(_request: GetStatsRequest, context: AuthorizedCall): GetStatsResponse {
    const scope = this.access.forAdmin(context, "read the statistics");
    return create(GetStatsResponseSchema, {
      windowSeconds: WINDOW_SECONDS,
      bucketSeconds: SERIES_BUCKET_SECONDS,
      backends: this.deps.backends.all
        .filter((backend) => scope.canReach(backend.name))
        .map((backend) => {
          const window = backend.driver.window.snapshot();
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

  /** The identities the admin administers (AdminScope.administers), with their rules. */
  listCallers(_request: ListCallersRequest, context: AuthorizedCall): ListCallersResponse {
    const scope = this.access.forAdmin(context, "list the callers");
    return create(ListCallersResponseSchema, {
      callers: this.deps.identities.filter((identity) => scope.administers(identity)).map(callerOf),
    });
  }

  /** The names a migration from one back end to another handles (see Migration). */
  async planMigration(request: PlanMigrationRequest, context: AuthorizedCall): Promise<PlanMigrationResponse> {
    return this.migration.plan(request, this.access.forAdmin(context, "migrate secrets"));
  }

  /** Copies one secret to another back end and verifies the copy (see Migration). */
  async migrateSecret(request: MigrateSecretRequest, context: AuthorizedCall): Promise<MigrateSecretResponse> {
    return this.migration.migrate(request, this.access.forAdmin(context, "migrate secrets"));
  }
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
  const teamId =
    token.length <= MAX_PAGE_TOKEN_CHARS && /^[A-Za-z0-9_-]+$/.test(token)
      ? Buffer.from(token, "base64url").toString("utf8")
      : "";
  if (!isValidTeamId(teamId)) throw invalidArgument("page_token is not a token ListTeams returned");
  return teamId;
}
