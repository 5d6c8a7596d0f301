import type { JsonObject } from "@bufbuild/protobuf";
import type { Identity } from "../auth/identity.js";
import type { DriverCall } from "../drivers/driver.js";
import type { StoredTeamSettings, TeamSettingsStore } from "../storage/team-settings-store.js";
import type { AuditRecordView } from "./audit-feed.js";
import { type Backend, type Backends, NO_TEAM, type Team } from "./backends.js";
import type { ScopedCall } from "./call-context.js";
import { permissionDenied } from "./errors.js";
import { validateTeamId } from "./names.js";
import type { Placement } from "./routes.js";
import { mergeCallSettings, validateCallSettings } from "./team-settings.js";

/**
 * Who may do what, decided in one place. Every RPC — data plane and operator — builds its scope
 * here once and asks it: may this call read, write or delete this name, act for this team, reach
 * this back end, administer this team on its back end. No handler asks an identity's rules itself
 * (test/unit/project/access-decision.test.ts keeps it so), and this module holds the one admin
 * check. The rules (src/auth/identity.ts) deny by default; docs/security.md describes the decision.
 */
export class Access {
  constructor(
    private readonly backends: Backends,
    private readonly teams: TeamSettingsStore,
  ) {}

  /**
   * A data call's scope: the caller may act for `teamId` ("" for none: the global location) and,
   * when it sends `team_settings`, may send them. The call runs under the team's stored settings
   * with the call's own merged over them; see `merged`. Synchronous for calls without a team
   * (no promise on the hot path).
   */
  forCall(call: ScopedCall, teamId: string, sent: JsonObject | undefined): CallScope | Promise<CallScope> {
    if (teamId !== "") validateTeamId(teamId);
    const { identity } = call;
    if (!identity.mayActFor(teamId)) throw cannotActFor(identity, teamId);
    const sending = sent !== undefined && !isEmpty(sent);
    // They can point the call at another namespace, vault, project or back end: only identities allowed to may send
    // them.
    if (sending && !identity.mayInlineTeamSettings) {
      throw permissionDenied(`${identity.name} may not send team_settings (its rules lack inline_team_settings)`);
    }
    if (teamId === "")
      return new CallScope(this.backends, call, "", sending ? validateCallSettings(this.backends, sent) : NO_TEAM);
    return this.teams.get(teamId).then((stored) => {
      const settings = stored?.settings ?? NO_TEAM;
      const scope = new CallScope(this.backends, call, teamId, settings);
      return sending ? new CallScope(this.backends, call, teamId, this.merged(scope, settings, sent)) : scope;
    });
  }

  /** An operator's call: the one admin check. Everything the admin then sees or changes, its scope decides. */
  forAdmin(call: ScopedCall, what: string): AdminScope {
    if (!call.identity.admin) throw permissionDenied(`${call.identity.name} may not ${what} (needs admin)`);
    return new AdminScope(this.backends, this.teams, call);
  }

  /**
   * A call's own settings over the team's stored ones (mergeCallSettings). Without `backend` they
   * stay on the back end the stored settings name (and are validated against its keys). Naming
   * another back end, they replace the stored settings, and the caller must be allowed to reach
   * both: the call moves the team's location away from the stored back end.
   */
  private merged(scope: CallScope, stored: Team, sent: JsonObject): Team {
    const inline = validateCallSettings(this.backends, sent, stored);
    if (typeof inline.backend === "string" && inline.backend !== this.backends.homeName(stored)) {
      if (stored !== NO_TEAM) scope.reach(this.backends.homeName(stored));
      scope.reach(inline.backend);
    }
    return mergeCallSettings(this.backends, stored, inline);
  }
}

/** What every scope decides: the caller's rules over back ends and names. */
class Scope {
  constructor(
    protected readonly backends: Backends,
    readonly call: ScopedCall,
  ) {}

  get identity(): Identity {
    return this.call.identity;
  }

  /** Whether the caller's rules let it reach the back end named `backend` (rules.backends); nothing is recorded. */
  canReach(backend: string): boolean {
    return this.call.identity.mayUse(backend);
  }

  /** The call reaches `target`: PERMISSION_DENIED unless the caller may; recorded for its audit record. */
  reach(target: Backend | string): void {
    const name = typeof target === "string" ? target : target.name;
    if (!this.call.identity.mayUse(name)) throw permissionDenied(`${this.identity.name} may not use back end ${name}`);
    this.call.reached ??= [];
    const reached = this.call.reached;
    if (!reached.includes(name)) reached.push(name);
  }

  /** Whether the caller may read `stored` (the name as the back end stores it, after prefixes). */
  mayRead(stored: string): boolean {
    return this.call.identity.mayRead(stored);
  }

  requireRead(stored: string): void {
    if (!this.call.identity.mayRead(stored))
      throw permissionDenied(`${this.identity.name} may not read ${JSON.stringify(stored)}`);
  }

  /** `why` ends the refusal's message (", which …"), for calls that write as part of something else. */
  requireWrite(stored: string, why = ""): void {
    if (!this.call.identity.mayWrite(stored))
      throw permissionDenied(`${this.identity.name} may not write ${JSON.stringify(stored)}${why}`);
  }

  requireDelete(stored: string, why = ""): void {
    if (!this.call.identity.mayDelete(stored))
      throw permissionDenied(`${this.identity.name} may not delete ${JSON.stringify(stored)}${why}`);
  }
}

/**
 * A data call's scope: who calls, for which team, under which settings (the stored ones with the
 * call's own merged over them), and where the call goes — each back end it reaches is allowed
 * and recorded here.
 */
export class CallScope extends Scope {
  private driverCalls: Map<Backend, DriverCall> | undefined;

  constructor(
    backends: Backends,
    call: ScopedCall,
    /** "" for none. */
    readonly teamId: string,
    /** The settings the call runs under; `backend` names the back end they belong to. */
    readonly team: Team,
  ) {
    super(backends, call);
  }

  /** Where a call for `name` goes (Backends.place): the caller must be allowed to reach it. */
  place(explicit: string | undefined, name: string, virtualKey: boolean): Placement<Backend> {
    const placement = this.backends.place(explicit, name, virtualKey, this.teamId, this.team);
    this.reach(placement.backend);
    return placement;
  }

  /** The call's settings on `target`: the team's where they belong, none elsewhere. */
  settingsOn(target: Backend): Team {
    return this.backends.settingsOn(target, this.team);
  }

  /**
   * The name as `target` stores it under the call's settings (virtual-key and team prefixes); `field` names it in
   * errors.
   */
  storedName(target: Backend, name: string, virtualKey: boolean, field?: string): string {
    return target.storedName(name, virtualKey, this.settingsOn(target), field);
  }

  /** The call's DriverCall on `target`, made when first needed (a Read of cached names needs none). */
  driverCall(target: Backend): DriverCall {
    this.driverCalls ??= new Map();
    let made = this.driverCalls.get(target);
    if (!made) {
      made = target.driverCall(this.teamId, this.settingsOn(target), this.call);
      this.driverCalls.set(target, made);
    }
    return made;
  }
}

/**
 * An operator's scope (the admin check passed): what it sees and changes is bounded by the same
 * rules as its data calls. An admin bound to some teams sees and acts for those only, never the
 * global location; one bound to some back ends sees only them, the teams whose settings place
 * them there (and changes a team's settings only where it may reach both the back end they name
 * and the one they move to), and the records and callers within that reach.
 */
export class AdminScope extends Scope {
  constructor(
    backends: Backends,
    private readonly teams: TeamSettingsStore,
    call: ScopedCall,
  ) {
    super(backends, call);
  }

  /**
   * The team's stored settings (undefined when it has none), once the admin may administer the
   * team: act for it, and reach the back end its settings name.
   */
  async administer(teamId: string, field = "team_id"): Promise<StoredTeamSettings | undefined> {
    validateTeamId(teamId, field);
    if (!this.identity.mayActFor(teamId)) throw cannotActFor(this.identity, teamId);
    const stored = await this.teams.get(teamId);
    if (stored) this.reach(this.backends.homeName(stored.settings));
    return stored;
  }

  /** Acting in the global (no-team) location, as migrations and a TestTeamSettings without a team do. */
  requireGlobal(what: string): void {
    if (!this.identity.mayActFor(""))
      throw permissionDenied(
        `${this.identity.name} may not ${what} in the global location: its rules bind it to its teams`,
      );
  }

  /** Whether the admin may see a team whose stored settings are `settings` (ListTeams). */
  maySeeTeam(teamId: string, settings: Team): boolean {
    return this.identity.mayActFor(teamId) && this.canReach(this.backends.homeName(settings));
  }

  /**
   * Whether the admin may see an audit record: its team is one it may act for ("" the global location), and every
   * back end it names one it may reach.
   */
  maySeeRecord(record: AuditRecordView): boolean {
    return this.identity.mayActFor(record.teamId) && record.backends.every((backend) => this.canReach(backend));
  }

  /**
   * Whether the admin administers `other` (ListCallers): every team `other` may act for, the
   * admin may too (the global location included), and every configured back end `other` may
   * reach, the admin may too.
   */
  administers(other: Identity): boolean {
    const { teams } = other.rules;
    const teamsWithin =
      teams.length === 0 ? this.identity.mayActFor("") : teams.every((team) => this.identity.mayActFor(team));
    return (
      teamsWithin &&
      this.backends.all.every((backend) => !other.mayUse(backend.name) || this.identity.mayUse(backend.name))
    );
  }
}

function cannotActFor(identity: Identity, teamId: string) {
  return permissionDenied(
    teamId === ""
      ? `${identity.name} is bound to its teams: name one of them in team_id`
      : `${identity.name} may not act for team ${JSON.stringify(teamId)}`,
  );
}

/** True for `{}` (an empty team_settings asks for nothing), without building a key list. */
function isEmpty(object: JsonObject): boolean {
  for (const _ in object) return false;
  return true;
}
