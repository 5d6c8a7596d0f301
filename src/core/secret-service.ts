import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import {
  DeleteResponseSchema,
  GetTeamSettingsResponseSchema,
  HostedKeySchema,
  ItemErrorSchema,
  ListHostedResponseSchema,
  ReadResponseSchema,
  RotateResponseSchema,
  SecretResultSchema,
  SetTeamSettingsResponseSchema,
  WriteResponseSchema,
  type DeleteRequest,
  type DeleteResponse,
  type GetTeamSettingsRequest,
  type GetTeamSettingsResponse,
  type HostedKey,
  type ItemError,
  type ListHostedRequest,
  type ListHostedResponse,
  type ReadRequest,
  type ReadResponse,
  type RotateRequest,
  type RotateResponse,
  type SecretResult,
  type SetTeamSettingsRequest,
  type SetTeamSettingsResponse,
  type WriteRequest,
  type WriteResponse,
} from "../../gen/secretgate/v1/secret_service_pb.js";
import type { Config } from "../config/schema.js";
import type { DriverCall, DriverDefinition, DriverWriteResult, SecretPayload, SecretValue } from "../drivers/driver.js";
import type { TeamSettingsStore } from "../storage/team-settings-store.js";
import type { Backend, BackendRead, ReadOptions } from "./backend.js";
import type { AuthorizedCall } from "./call-context.js";
import { Code, ServiceError, invalidArgument, notFound, statusName, failedPrecondition, permissionDenied } from "./errors.js";
import { stripEnvReference, validateSecretName, validateTeamId } from "./names.js";
import { Policy } from "./policy.js";
import { envValue, type Env } from "../config/env.js";
import type { ServedEnvironment } from "../config/served-environment.js";
import { redactTeamSettings, validateTeamSettings } from "./team-settings.js";

export const MAX_NAMES_PER_READ = 1000;
const MAX_TAGS = 50;
const MAX_LISTED_NAMES = 1000;
/** ItemError.reason values (documented in the proto): what a client does about a miss depends on them. */
const NOT_HOSTED = "NOT_HOSTED";
const NOT_IN_BACKEND = "NOT_IN_BACKEND";

type Team = Readonly<Record<string, unknown>>;
const NO_TEAM: Team = Object.freeze({});
const NO_BYTES = new Uint8Array(0);

/** A name of a batch that the secret manager answers. */
interface ManagerRead {
  index: number;
  name: string;
  resolvedName: string;
  options: ReadOptions;
}

export interface SecretServiceDependencies {
  config: Config;
  definition: DriverDefinition;
  backend: Backend;
  teams: TeamSettingsStore;
  env: Env;
  logger: Logger;
}

/**
 * The one implementation of secretgate.v1.SecretService. Both listeners (gRPC via grpc-js,
 * Connect via connect-node) call it with the generated message types; it applies validation
 * and policy once, then talks to the back end through `Backend` (cache and resilience) and
 * the driver interface.
 */
export class SecretService {
  private readonly policy: Policy;
  private readonly served: ServedEnvironment;
  private readonly source: string;
  private readonly backend: Backend;
  private readonly defaultDeadlineMs: number;

  constructor(private readonly deps: SecretServiceDependencies) {
    const { config, definition } = deps;
    this.policy = new Policy(
      config.accessMode,
      config.keyManagementSettings,
      definition.credentialEnvNames ?? [],
      definition.prefixSeparator,
      definition.hostedWhateverHostedKeys?.(config.servedEnvironment.withoutProtected(deps.env)),
    );
    this.served = config.servedEnvironment;
    this.source = definition.name;
    this.backend = deps.backend;
    this.defaultDeadlineMs = config.server.backend.default_deadline_seconds * 1000;
  }

  /** Synchronous when every name is answered without waiting (cache hits: the hot path). */
  read(request: ReadRequest, context: AuthorizedCall): ReadResponse | Promise<ReadResponse> {
    const count = request.names.length;
    if (count === 0) throw invalidArgument("names must list at least one name");
    if (count > MAX_NAMES_PER_READ) throw invalidArgument(`names lists ${count} names; the limit is ${MAX_NAMES_PER_READ} per Read`);
    const settings = this.teamSettings(request.teamId, request.teamSettings, context);
    if (settings instanceof Promise) return settings.then((team) => this.readForTeam(request, team, context));
    return this.readForTeam(request, settings, context);
  }

  private readForTeam(request: ReadRequest, team: Team, context: AuthorizedCall): ReadResponse | Promise<ReadResponse> {
    const call = this.driverCall(request.teamId, team, context);
    const read = this.readNames(request.names, (index) => `names[${index}]`, team, call, context, request);
    return read instanceof Promise ? read.then(readResponse) : readResponse(read);
  }

  async write(request: WriteRequest, context: AuthorizedCall): Promise<WriteResponse> {
    this.requireWritable("Write");
    validateSecretName(request.name, "name");
    const payload = this.payload(request.value, request.binaryValue);
    this.validateTags(request.tags);
    const team = await this.teamSettings(request.teamId, request.teamSettings, context);
    const name = this.storedName(request.name, request.virtualKey, team);
    if (!context.identity.mayWrite(name)) throw permissionDenied(`${context.identity.name} may not write ${JSON.stringify(name)}`);
    const description = this.policy.description(request.description, team);
    const result = await this.backend.write(
      { name, value: payload, tags: this.policy.tags(request.tags, team), ...(description !== undefined ? { description } : {}) },
      this.driverCall(request.teamId, team, context),
    );
    return create(WriteResponseSchema, { name, version: result.version, source: this.source, warnings: result.warnings ?? [] });
  }

  async delete(request: DeleteRequest, context: AuthorizedCall): Promise<DeleteResponse> {
    this.requireWritable("Delete");
    validateSecretName(request.name, "name");
    const team = await this.teamSettings(request.teamId, request.teamSettings, context);
    const name = this.storedName(request.name, request.virtualKey, team);
    if (!context.identity.mayDelete(name)) throw permissionDenied(`${context.identity.name} may not delete ${JSON.stringify(name)}`);
    const result = await this.backend.delete(name, request.force, this.driverCall(request.teamId, team, context));
    if (!result) throw notFound(`secret ${JSON.stringify(name)} does not exist in ${this.source}`);
    return create(DeleteResponseSchema, { name, recoverable: result.recoverable });
  }

  async rotate(request: RotateRequest, context: AuthorizedCall): Promise<RotateResponse> {
    this.requireWritable("Rotate");
    validateSecretName(request.currentName, "current_name");
    const newRequested = request.newName === "" ? request.currentName : request.newName;
    validateSecretName(newRequested, "new_name");
    const payload = this.payload(request.value, new Uint8Array(), "value");
    const team = await this.teamSettings(request.teamId, request.teamSettings, context);
    const currentName = this.storedName(request.currentName, request.virtualKey, team, "current_name");
    const newName = this.storedName(newRequested, request.virtualKey, team, "new_name");
    const { identity } = context;
    if (!identity.mayWrite(newName)) throw permissionDenied(`${identity.name} may not write ${JSON.stringify(newName)}`);
    if (newName !== currentName && !identity.mayDelete(currentName)) {
      throw permissionDenied(`${identity.name} may not delete ${JSON.stringify(currentName)}, which rotating to a new name does`);
    }
    const call = this.driverCall(request.teamId, team, context);
    const fresh = { bypassCache: true };

    const existing = await this.backend.read(currentName, call, fresh);
    if (!existing.value) throw notFound(`current_name ${JSON.stringify(currentName)} does not exist in ${this.source}`);
    const description = this.policy.description("", team);
    const write = { value: payload, tags: this.policy.tags({}, team), ...(description !== undefined ? { description } : {}) };

    const written = await this.backend.write({ name: newName, ...write }, call);
    if (newName === currentName) {
      return create(RotateResponseSchema, { name: newName, version: written.version, oldDeleted: false });
    }
    const readBack = await this.backend.read(newName, call, fresh);
    if (readBack.value?.text !== payload.text) throw await this.abandonRotation(currentName, newName, written, readBack.value, call);
    try {
      await this.backend.delete(currentName, false, call);
    } catch (error) {
      const failure = this.backend.toServiceError(error, call);
      throw new ServiceError(
        failure.code,
        `Rotate stored the new value under ${JSON.stringify(newName)} but could not delete ${JSON.stringify(currentName)}, which still holds the old value: ${failure.message}`,
      );
    }
    return create(RotateResponseSchema, { name: newName, version: written.version, oldDeleted: true });
  }

  /**
   * After a read-back that did not show the new value: removes the new name only when this
   * Rotate created it and no other writer's version is there (the back end lagged, or garbled
   * ours), so the caller can retry; anything else is left as it is. The old secret was never
   * touched. The answer is ABORTED either way, naming what happened (never a value).
   */
  private async abandonRotation(
    currentName: string,
    newName: string,
    written: DriverWriteResult,
    readBack: SecretValue | undefined,
    call: DriverCall,
  ): Promise<ServiceError> {
    const current = `${JSON.stringify(currentName)} is unchanged`;
    const target = JSON.stringify(newName);
    if (!written.created) {
      return new ServiceError(
        Code.Aborted,
        `Rotate wrote a new version of ${target} but reading it back did not return it: ${target} already held a secret before this Rotate, so it was left as it is (another writer may have changed it meanwhile); ${current}`,
      );
    }
    if (readBack !== undefined && readBack.version !== written.version) {
      return new ServiceError(
        Code.Aborted,
        `Rotate created ${target} but reading it back showed another writer's version (${readBack.version}, not ${written.version}), so ${target} was left as it is; ${current}`,
      );
    }
    try {
      await this.backend.delete(newName, true, call);
    } catch (error) {
      const failure = this.backend.toServiceError(error, call);
      return new ServiceError(
        Code.Aborted,
        `Rotate created ${target} but reading it back did not return the new value, and ${target} could not be removed (${statusName(failure.code)}: ${failure.message}); ${current}`,
      );
    }
    return new ServiceError(
      Code.Aborted,
      `Rotate created ${target} but reading it back did not return the new value, so it removed ${target} again; ${current}`,
    );
  }

  async listHosted(request: ListHostedRequest, context: AuthorizedCall): Promise<ListHostedResponse> {
    const team = await this.teamSettings(request.teamId, undefined, context);
    const call = this.driverCall(request.teamId, team, context);
    // Configured hosted keys say what is served; without them, what the store holds (bounded:
    // each listed name is resolved).
    const hosted = this.policy.hostedKeyNames;
    const stored = hosted.length > 0 ? [] : (await this.backend.list(call)).slice(0, MAX_LISTED_NAMES);
    const names = new Set([...hosted, ...stored].filter((name) => context.identity.mayRead(name)));
    const sorted = [...names].sort();
    const read = this.readNames(sorted, (index) => sorted[index]!, team, call, context, { virtualKey: false, bypassCache: false, refreshIfVersion: {} });
    const results = read instanceof Promise ? await read : read;
    const keys = results.map((result, index) =>
      create(HostedKeySchema, {
        name: sorted[index]!,
        resolves: result.found,
        source: result.source,
        version: result.version,
        ...(result.error ? { error: result.error } : {}),
      }),
    );
    return create(ListHostedResponseSchema, { keys });
  }

  async setTeamSettings(request: SetTeamSettingsRequest, context: AuthorizedCall): Promise<SetTeamSettingsResponse> {
    validateTeamId(request.teamId);
    this.requireAdmin(request.teamId, context);
    const settings = validateTeamSettings(this.deps.definition.teamSettings, request.settings ?? {});
    if (Object.keys(settings).length === 0) {
      await this.deps.teams.clear(request.teamId);
      return create(SetTeamSettingsResponseSchema, { teamId: request.teamId, settings: {}, configured: false });
    }
    const stored = await this.deps.teams.set(request.teamId, settings);
    return create(SetTeamSettingsResponseSchema, {
      teamId: request.teamId,
      settings: this.redact(stored.settings) as JsonObject,
      configured: true,
    });
  }

  async getTeamSettings(request: GetTeamSettingsRequest, context: AuthorizedCall): Promise<GetTeamSettingsResponse> {
    validateTeamId(request.teamId);
    this.requireAdmin(request.teamId, context);
    const stored = await this.deps.teams.get(request.teamId);
    if (!stored) return create(GetTeamSettingsResponseSchema, { teamId: request.teamId, settings: {}, configured: false });
    return create(GetTeamSettingsResponseSchema, {
      teamId: request.teamId,
      settings: this.redact(stored.settings) as JsonObject,
      configured: true,
      updatedAt: timestampFromMs(stored.updatedAt.getTime()),
    });
  }

  /**
   * Resolves a batch of names; a failure becomes its item's error, never the batch's. First every
   * name is checked, authorized and routed (refusals and environment answers are final), then
   * the fresh cache entries of the whole batch are opened together; only the rest wait for the
   * back end. A batch answered without the back end comes back synchronously: cache hits are
   * the hot path.
   */
  private readNames(
    names: readonly string[],
    fieldOf: (index: number) => string,
    team: Team,
    call: DriverCall,
    context: AuthorizedCall,
    request: { virtualKey: boolean; bypassCache: boolean; refreshIfVersion: Readonly<Record<string, string>> },
  ): SecretResult[] | Promise<SecretResult[]> {
    const results = new Array<SecretResult>(names.length);
    const fromManager: ManagerRead[] = [];
    const plainOptions: ReadOptions = { bypassCache: request.bypassCache };
    const refreshing = Object.keys(request.refreshIfVersion).length > 0;
    names.forEach((rawName, index) => {
      const name = stripEnvReference(rawName);
      const routed = this.route(name, fieldOf(index), request.virtualKey, team, context);
      if (typeof routed !== "string") results[index] = routed;
      else {
        // Own keys only: a name such as "constructor" must not find Object.prototype's.
        const refreshIfVersion = refreshing && Object.hasOwn(request.refreshIfVersion, name) ? request.refreshIfVersion[name] : undefined;
        const options = refreshIfVersion === undefined ? plainOptions : { bypassCache: request.bypassCache, refreshIfVersion };
        fromManager.push({ index, name, resolvedName: routed, options });
      }
    });
    if (fromManager.length === 0) return results;

    const primary = this.deps.config.keyManagementSettings.primary_secret_name;
    let cached: Array<BackendRead | undefined> = [];
    try {
      if (primary === undefined) cached = this.backend.readCachedMany(fromManager.map((item) => item.resolvedName), call, fromManager.map((item) => item.options));
    } catch {
      // Asking the back end below reports the same failure per item.
    }
    let pending: Array<Promise<void>> | undefined;
    fromManager.forEach((item, position) => {
      const hit = cached[position];
      if (hit) {
        results[item.index] = this.fromManagerRead(item.name, item.resolvedName, hit, request.virtualKey);
        return;
      }
      const reading = primary === undefined ? this.backend.readThrough(item.resolvedName, call, item.options) : this.readPrimaryField(primary, item.resolvedName, call, item.options);
      const settled = reading.then(
        (read) => this.fromManagerRead(item.name, item.resolvedName, read, request.virtualKey),
        (error: unknown) => this.itemFailure(item.name, error, call),
      );
      (pending ??= []).push(settled.then((result) => void (results[item.index] = result)));
    });
    return pending ? Promise.all(pending).then(() => results) : results;
  }

  /**
   * Where one name is read from: the name to ask the manager for, or the final answer (a
   * refusal, or "not hosted here"). Checked before anything is fetched: a denied name never
   * reaches the back end.
   */
  private route(name: string, field: string, virtualKey: boolean, team: Team, context: AuthorizedCall): string | SecretResult {
    try {
      validateSecretName(name, field);
      const resolvedName = this.storedName(name, virtualKey, team, field);
      if (!context.identity.mayRead(resolvedName)) {
        throw permissionDenied(`${context.identity.name} may not read ${JSON.stringify(resolvedName)}`);
      }
      const route = this.policy.routeRead(name);
      if (route.from === "environment") return this.notHosted(name, resolvedName, virtualKey, route.reason);
      return resolvedName;
    } catch (error) {
      return this.itemFailure(name, error);
    }
  }

  /**
   * Where LiteLLM reads its own process environment (SPEC §3.2): the caller reads its own,
   * unless the operator serves the name from the service's environment.
   */
  private notHosted(name: string, resolvedName: string, virtualKey: boolean, reason: string): SecretResult {
    const served = this.servedValue(name, virtualKey);
    if (served !== undefined) return this.fromEnv(name, resolvedName, served);
    return this.missing(name, resolvedName, NOT_HOSTED, `${JSON.stringify(name)} is not hosted here: read it from your own environment (${reason})`);
  }

  /** A manager miss is the back end's answer; the service's environment answers only for names the operator serves. */
  private fromManagerRead(name: string, resolvedName: string, read: BackendRead, virtualKey: boolean): SecretResult {
    if (read.value) return this.found(name, resolvedName, this.source, read);
    const served = this.servedValue(name, virtualKey);
    if (served !== undefined) return this.fromEnv(name, resolvedName, served);
    return this.missing(name, resolvedName, NOT_IN_BACKEND, `${JSON.stringify(resolvedName)} was not found in ${this.source}`);
  }

  /** The service's own variable `name` when `secretgate.environment.serve` serves it; virtual keys never come from it. */
  private servedValue(name: string, virtualKey: boolean): string | undefined {
    if (virtualKey || !this.served.serves(name)) return undefined;
    return envValue(this.deps.env, name);
  }

  private itemFailure(name: string, error: unknown, call?: DriverCall): SecretResult {
    const { code, message } = this.backend.toServiceError(error, call);
    return create(SecretResultSchema, { name, error: itemError(code, message) });
  }

  /** With primary_secret_name (SPEC §3.4): one field of the JSON secret, which is cached as one entry. */
  private async readPrimaryField(primary: string, name: string, call: DriverCall, options: ReadOptions): Promise<BackendRead> {
    const read = await this.backend.read(primary, call, options);
    const document = read.value;
    if (!document) return read;
    let fields: unknown;
    try {
      fields = JSON.parse(document.text ?? Buffer.from(document.binary ?? []).toString("utf8"));
    } catch {
      fields = undefined;
    }
    if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
      throw failedPrecondition(`primary_secret_name ${JSON.stringify(primary)} does not hold a JSON object`);
    }
    const field = Object.hasOwn(fields, name) ? (fields as Record<string, unknown>)[name] : undefined;
    if (field === undefined || field === null) return { ...read, value: undefined };
    return { ...read, value: { text: typeof field === "string" ? field : JSON.stringify(field), version: document.version } };
  }

  private fromEnv(name: string, resolvedName: string, value: string): SecretResult {
    return this.found(name, resolvedName, "env", { value: { text: value, version: "" }, fromCache: false, stale: false, fetchedAt: Date.now() });
  }

  /**
   * A found item, built as the plain object protobuf-es messages are (every field set) rather
   * than through create(), which copies its init object field by field: this runs once per name
   * of every Read.
   */
  private found(name: string, resolvedName: string, source: string, read: BackendRead): SecretResult {
    const value = read.value!;
    return {
      $typeName: SecretResultSchema.typeName,
      name,
      resolvedName,
      found: true,
      value: value.binary === undefined ? (value.text ?? "") : "",
      binaryValue: value.binary ?? NO_BYTES,
      source,
      version: value.version,
      fetchedAt: timestampFromMs(read.fetchedAt),
      fromCache: read.fromCache,
      stale: read.stale,
      error: undefined,
      fallback: false,
    };
  }

  private missing(name: string, resolvedName: string, reason: string, message: string): SecretResult {
    return create(SecretResultSchema, { name, resolvedName, found: false, error: itemError(Code.NotFound, message, reason) });
  }

  private requireWritable(method: string): void {
    this.policy.requireWritable(method);
    if (!this.backend.driver.capabilities.write) {
      throw failedPrecondition(`${method} is refused: ${this.source} only decrypts values held in the environment`);
    }
  }

  private storedName(name: string, virtualKey: boolean, team: Team, field = "name"): string {
    const stored = this.policy.storedName(name, virtualKey, team);
    if (stored !== name) validateSecretName(stored, `${field} (with its prefix)`);
    return stored;
  }

  private payload(text: string, binary: Uint8Array, field = "value"): SecretPayload {
    const limit = this.deps.config.server.max_value_bytes;
    if (binary.length > 0) {
      if (text !== "") throw invalidArgument(`set only one of ${field} and binary_value`);
      if (!this.backend.driver.capabilities.binary) throw invalidArgument(`binary_value is not supported by ${this.source}; send value as text`);
      if (binary.length > limit) throw invalidArgument(`binary_value is ${binary.length} bytes; the limit is ${limit} bytes`);
      return { binary };
    }
    if (text === "") throw invalidArgument(`${field} must not be empty`);
    const bytes = Buffer.byteLength(text, "utf8");
    if (bytes > limit) throw invalidArgument(`${field} is ${bytes} bytes; the limit is ${limit} bytes`);
    return { text };
  }

  private validateTags(tags: Readonly<Record<string, string>>): void {
    const entries = Object.entries(tags);
    if (entries.length > MAX_TAGS) throw invalidArgument(`tags has ${entries.length} entries; the limit is ${MAX_TAGS}`);
    for (const [key, value] of entries) {
      if (key === "" || key.length > 128) throw invalidArgument("tags keys must be 1 to 128 characters");
      if (value.length > 256) throw invalidArgument(`tags[${JSON.stringify(key)}] is longer than 256 characters`);
    }
  }

  /**
   * The settings a call runs under, once the caller is allowed to act for the team (deny by
   * default): the team's stored settings, with the call's own `team_settings` merged over them.
   * Synchronous for calls without a team (no promise on the hot path).
   */
  private teamSettings(teamId: string, sent: JsonObject | undefined, context: AuthorizedCall): Team | Promise<Team> {
    if (teamId !== "") validateTeamId(teamId);
    const { identity } = context;
    if (!identity.mayActFor(teamId)) {
      throw permissionDenied(
        teamId === ""
          ? `${identity.name} is bound to its teams: name one of them in team_id`
          : `${identity.name} may not act for team ${JSON.stringify(teamId)}`,
      );
    }
    const inline = sent === undefined || isEmpty(sent) ? undefined : this.inlineTeamSettings(sent, context);
    if (teamId === "") return inline ?? NO_TEAM;
    return this.deps.teams.get(teamId).then((stored) => {
      const settings = stored?.settings ?? NO_TEAM;
      return inline ? { ...settings, ...inline } : settings;
    });
  }

  /**
   * A call's own team settings, validated exactly as SetTeamSettings validates stored ones. They
   * can point the call at another namespace, vault or project, so only identities allowed to
   * send them may.
   */
  private inlineTeamSettings(sent: JsonObject, context: AuthorizedCall): Team {
    const { identity } = context;
    if (!identity.mayInlineTeamSettings) {
      throw permissionDenied(`${identity.name} may not send team_settings (its rules lack inline_team_settings)`);
    }
    return validateTeamSettings(this.deps.definition.teamSettings, sent, "team_settings");
  }

  private requireAdmin(teamId: string, context: AuthorizedCall): void {
    if (!context.identity.admin) throw permissionDenied(`${context.identity.name} may not manage team settings (needs admin)`);
    if (!context.identity.mayActFor(teamId)) throw permissionDenied(`${context.identity.name} may not act for team ${JSON.stringify(teamId)}`);
  }

  private redact(settings: Record<string, unknown>): Record<string, unknown> {
    return redactTeamSettings(settings, this.deps.definition.sensitiveTeamKeys);
  }

  private driverCall(teamId: string, team: Team, context: AuthorizedCall): DriverCall {
    return new ServiceDriverCall(teamId, team, context.deadline ?? Date.now() + this.defaultDeadlineMs, context.signal);
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

/** Built as a plain protobuf-es message (as `found` is): one per Read. */
function readResponse(results: SecretResult[]): ReadResponse {
  return { $typeName: ReadResponseSchema.typeName, results };
}

/** True for `{}` (an empty team_settings asks for nothing), without building a key list. */
function isEmpty(object: JsonObject): boolean {
  for (const _ in object) return false;
  return true;
}

function itemError(code: Code, message: string, reason = ""): ItemError {
  return create(ItemErrorSchema, { code, status: statusName(code), message, reason });
}
