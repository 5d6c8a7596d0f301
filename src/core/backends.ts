import type { z } from "zod";
import { ConfigError } from "../config/config-error.js";
import type { Env } from "../config/env.js";
import type { KeyManagementSettings } from "../config/key-management-settings.js";
import type { BackendConfig, RouteSettings } from "../config/schema.js";
import type { DriverCall, DriverCapabilities, DriverDefinition } from "../drivers/driver.js";
import type { CachedDriver } from "./cached-driver.js";
import type { CallContext } from "./call-context.js";
import { failedPrecondition } from "./errors.js";
import { validateSecretName } from "./names.js";
import { Policy } from "./policy.js";
import { type Placement, Routes } from "./routes.js";

/** A team's settings as a call runs under them; `backend` names the back end they belong to. */
export type Team = Readonly<Record<string, unknown>>;
export const NO_TEAM: Team = Object.freeze({});

/** Whether a back end has answered its start-up probe. */
export interface Reachability {
  readonly reachable: boolean;
}

/**
 * One named back end as the core uses it: its driver behind `CachedDriver` (cache and resilience),
 * and its own LiteLLM policy (access mode, hosted keys, prefixes, description and tags).
 */
export class Backend {
  readonly name: string;
  readonly system: string;
  readonly definition: DriverDefinition;
  readonly settings: KeyManagementSettings;
  /** What a team may set here, as this back end's own settings shape it (DriverDefinition.teamSettingsFor). */
  readonly teamSettings: z.ZodType<Record<string, unknown>>;
  readonly policy: Policy;
  /** This back end and nothing else: where an explicit reference or a team's own back end places a call. */
  readonly alone: Placement<Backend>;
  private readonly defaultDeadlineMs: number;

  constructor(
    config: BackendConfig<DriverDefinition>,
    readonly driver: CachedDriver,
    private readonly reachability: Reachability,
    /** The environment its driver reads, without the service's own variables (see DriverContext.ciphertextEnv). */
    ciphertextEnv: Env,
  ) {
    this.name = config.name;
    this.system = config.system;
    this.definition = config.definition;
    this.settings = config.settings;
    this.teamSettings = config.definition.teamSettingsFor?.(config.settings) ?? config.definition.teamSettings;
    this.policy = new Policy(
      config.accessMode,
      config.settings,
      config.definition.credentialEnvironment.names,
      config.definition.prefixSeparator,
      config.definition.hostedWhateverHostedKeys?.(ciphertextEnv),
    );
    this.alone = { backend: this, fallback: [], dualWrite: false };
    this.defaultDeadlineMs = config.resilience.default_deadline_seconds * 1000;
  }

  /** What its driver can do (DriverDefinition.capabilities). */
  get capabilities(): DriverCapabilities {
    return this.driver.capabilities;
  }

  get reachable(): boolean {
    return this.reachability.reachable;
  }

  /** Refuses reading every name from the back end (a migration's source) where the access mode serves no reads. */
  requireReadable(what: string): void {
    this.policy.requireReadable(what);
  }

  /** Refuses Write, Delete and Rotate where the access mode or the back end itself allows reads only. */
  requireWritable(method: string): void {
    this.policy.requireWritable(method);
    if (!this.capabilities.write) {
      throw failedPrecondition(`${method} is refused: ${this.name} only decrypts values held in the environment`);
    }
  }

  /** The name as stored here: a virtual key gets the team's prefix or this back end's; `field` names it in errors. */
  storedName(name: string, virtualKey: boolean, team: Team, field = "name"): string {
    const stored = this.policy.storedName(name, virtualKey, team);
    if (stored !== name) validateSecretName(stored, `${field} (with its prefix)`);
    return stored;
  }

  /** A call's deadline (this back end's default when the caller set none) and cancellation, under `team`'s settings. */
  driverCall(teamId: string, team: Team, context: Pick<CallContext, "deadline" | "signal">): DriverCall {
    return new ServiceDriverCall(teamId, team, context.deadline ?? Date.now() + this.defaultDeadlineMs, context.signal);
  }
}

/**
 * Every back end of the service, the default one, and the routes between them. Policy that
 * spans back ends — which one a call goes to, whose team settings apply where — lives here.
 */
export class Backends {
  readonly default: Backend;
  readonly routes: Routes<Backend>;
  private readonly byName: ReadonlyMap<string, Backend>;

  constructor(
    readonly all: readonly Backend[],
    defaultName: string,
    routes: readonly RouteSettings[],
  ) {
    this.byName = new Map(all.map((backend) => [backend.name, backend]));
    this.default = this.named(defaultName);
    this.routes = new Routes(routes, (name) => this.named(name), this.default.alone);
    // Only now are the drivers' capabilities known (the config checked access modes already).
    this.routes.placements.forEach((placement, index) => {
      if (!placement.dualWrite) return;
      for (const backend of [placement.backend, ...placement.fallback]) {
        if (!backend.capabilities.write) {
          throw new ConfigError(
            `secretgate.routes.${index}: ${backend.name} only decrypts values held ` +
              `in the environment, so it cannot take the writes mode dual_write sends ` +
              `it`,
          );
        }
      }
    });
  }

  get(name: string): Backend | undefined {
    return this.byName.get(name);
  }

  /** Whether `name` is a configured back end (references and `backend` fields). */
  readonly has = (name: string): boolean => this.byName.has(name);

  /**
   * Where a call for `name` goes: the back end a reference or the `backend` field names
   * (`explicit`, already checked to exist), else the team's own back end, else the first
   * matching route, else the default. Whether the caller may reach it is the access decision's
   * (CallScope.place).
   */
  place(
    explicit: string | undefined,
    name: string,
    virtualKey: boolean,
    teamId: string,
    team: Team,
  ): Placement<Backend> {
    if (explicit !== undefined) return this.named(explicit).alone;
    if (team !== NO_TEAM && team.backend !== undefined) return this.homeOf(team).alone;
    return this.routes.place(name, virtualKey, teamId);
  }

  /**
   * The back end a team's settings belong to: the one their `backend` key names, else the
   * default. Settings stored before a back end was removed from the config name one no longer
   * there: FAILED_PRECONDITION, never a silent move to another back end.
   */
  homeOf(team: Team): Backend {
    const named = team.backend;
    if (named === undefined) return this.default;
    const home = typeof named === "string" ? this.byName.get(named) : undefined;
    if (!home)
      throw failedPrecondition(`the team's settings name back end ${JSON.stringify(named)}, which is not configured`);
    return home;
  }

  /**
   * The name of the back end a team's settings belong to, configured or not (the access decision
   * asks whether a caller may reach it even when it is gone).
   */
  homeName(team: Team): string {
    return typeof team.backend === "string" ? team.backend : this.default.name;
  }

  /**
   * The settings a call runs under on `backend`: the team's, without their `backend` key, where
   * they belong; none on any other back end (settings for one system mean nothing to another).
   */
  settingsOn(backend: Backend, team: Team): Team {
    if (team === NO_TEAM) return team;
    if (this.homeOf(team) !== backend) return NO_TEAM;
    if (team.backend === undefined) return team;
    const { backend: _home, ...settings } = team;
    return settings;
  }

  private named(name: string): Backend {
    const backend = this.byName.get(name);
    // The config checked every name a route or default_backend uses.
    if (!backend) throw new ConfigError(`no back end is named ${JSON.stringify(name)}`);
    return backend;
  }
}

/**
 * A call's deadline and cancellation as drivers see them. The AbortSignal (a timer) is made on
 * first use: a call answered without the back end never pays for one.
 */
class ServiceDriverCall implements DriverCall {
  private abortSignal: AbortSignal | undefined;

  constructor(
    readonly teamId: string,
    readonly team: Team,
    readonly deadline: number,
    private readonly callerSignal: AbortSignal | undefined,
  ) {}

  get signal(): AbortSignal {
    if (!this.abortSignal) {
      const timeout = AbortSignal.timeout(Math.max(0, this.deadline - Date.now()));
      this.abortSignal = this.callerSignal ? AbortSignal.any([timeout, this.callerSignal]) : timeout;
    }
    return this.abortSignal;
  }
}
