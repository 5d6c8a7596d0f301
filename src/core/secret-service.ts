import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import {
  type DeleteRequest,
  type DeleteResponse,
  DeleteResponseSchema,
  type GetTeamSettingsRequest,
  type GetTeamSettingsResponse,
  GetTeamSettingsResponseSchema,
  type HostedKey,
  HostedKeySchema,
  type ListHostedRequest,
  type ListHostedResponse,
  ListHostedResponseSchema,
  type ReadRequest,
  type ReadResponse,
  type RotateRequest,
  type RotateResponse,
  RotateResponseSchema,
  type SecretService as SecretServiceDescriptor,
  type SetTeamSettingsRequest,
  type SetTeamSettingsResponse,
  SetTeamSettingsResponseSchema,
  type WriteRequest,
  type WriteResponse,
  WriteResponseSchema,
} from "../../gen/secretgate/v1/secret_service_pb.js";
import type { Env } from "../config/env.js";
import type { Config } from "../config/schema.js";
import type {
  DriverCall,
  DriverDeleteResult,
  DriverWriteResult,
  SecretPayload,
  SecretValue,
} from "../drivers/driver.js";
import type { TeamSettingsStore } from "../storage/team-settings-store.js";
import { Access, type CallScope } from "./access.js";
import { type Addressed, addressOf, checkRequestedBackend } from "./backend-reference.js";
import type { Backend, Backends } from "./backends.js";
import { BatchReader } from "./batch-read.js";
import type { AuthorizedCall, ServiceImplementation } from "./call-context.js";
import { copyToFallbacks } from "./dual-write.js";
import { Code, invalidArgument, notFound, ServiceError, statusName } from "./errors.js";
import { validateSecretName } from "./names.js";
import { readResponse } from "./results.js";
import type { Placement } from "./routes.js";
import { REDACTED, redactTeamSettings, validateTeamSettingsOn, withStoredCredentials } from "./team-settings.js";

export const MAX_NAMES_PER_READ = 1000;
const MAX_TAGS = 50;
const MAX_LISTED_NAMES = 1000;
const FRESH = { bypassCache: true };

export interface SecretServiceDependencies {
  config: Config;
  backends: Backends;
  teams: TeamSettingsStore;
  /** The one access decision every call asks (one over `backends` and `teams` when not given). */
  access?: Access;
  env: Env;
  logger: Logger;
}

/**
 * The one implementation of secretgate.v1.SecretService, what a proxy calls. Both listeners
 * (gRPC via grpc-js, Connect via connect-node) call it with the generated message types; it
 * applies validation and policy once, builds each call's scope (the access decision: who, which
 * team, which settings, which back ends), places the call on one of the configured back ends
 * (Backends), then talks to it through `CachedDriver` (cache and resilience) and the driver
 * interface.
 */
export class SecretService implements ServiceImplementation<typeof SecretServiceDescriptor> {
  private readonly backends: Backends;
  private readonly reader: BatchReader;
  private readonly access: Access;

  constructor(private readonly deps: SecretServiceDependencies) {
    this.backends = deps.backends;
    this.access = deps.access ?? new Access(deps.backends, deps.teams);
    this.reader = new BatchReader(deps.backends, deps.config.servedEnvironment, deps.env);
  }

  /** Synchronous when every name is answered without waiting (cache hits: the hot path). */
  read(request: ReadRequest, context: AuthorizedCall): ReadResponse | Promise<ReadResponse> {
    const count = request.names.length;
    if (count === 0) throw invalidArgument("names must list at least one name");
    if (count > MAX_NAMES_PER_READ)
      throw invalidArgument(`names lists ${count} names; the limit is ${MAX_NAMES_PER_READ} per Read`);
    checkRequestedBackend(request.backend, this.backends.has);
    const scope = this.access.forCall(context, request.teamId, request.teamSettings);
    if (scope instanceof Promise) return scope.then((ready) => this.readIn(request, ready));
    return this.readIn(request, scope);
  }

  private readIn(request: ReadRequest, scope: CallScope): ReadResponse | Promise<ReadResponse> {
    const read = this.reader.read(request.names, (index) => `names[${index}]`, scope, request);
    return read instanceof Promise ? read.then(readResponse) : readResponse(read);
  }

  async write(request: WriteRequest, context: AuthorizedCall): Promise<WriteResponse> {
    const addressed = this.address(request.name, "name", request.backend);
    const name = addressed?.name ?? request.name;
    validateSecretName(name, "name");
    this.validateTags(request.tags);
    const scope = await this.access.forCall(context, request.teamId, request.teamSettings);
    const placement = scope.place(addressed?.backend, name, request.virtualKey);
    const written = await this.writeTo(placement.backend, name, request, scope);
    const warnings = await copyToFallbacks(
      placement,
      "Write",
      written.name,
      (target) => this.writeTo(target, name, request, scope),
      this.deps.logger,
    );
    return create(WriteResponseSchema, {
      name: written.name,
      version: written.result.version,
      source: placement.backend.name,
      warnings: [...(written.result.warnings ?? []), ...warnings],
    });
  }

  private async writeTo(
    target: Backend,
    name: string,
    request: WriteRequest,
    scope: CallScope,
  ): Promise<{ name: string; result: DriverWriteResult }> {
    scope.reach(target);
    target.requireWritable("Write");
    const payload = this.payload(target, request.value, request.binaryValue);
    const settings = scope.settingsOn(target);
    const stored = target.storedName(name, request.virtualKey, settings);
    scope.requireWrite(stored);
    const description = target.policy.description(request.description, settings);
    const result = await target.driver.write(
      {
        name: stored,
        value: payload,
        tags: target.policy.tags(request.tags, settings),
        ...(description !== undefined ? { description } : {}),
      },
      scope.driverCall(target),
    );
    return { name: stored, result };
  }

  async delete(request: DeleteRequest, context: AuthorizedCall): Promise<DeleteResponse> {
    const addressed = this.address(request.name, "name", request.backend);
    const name = addressed?.name ?? request.name;
    validateSecretName(name, "name");
    const scope = await this.access.forCall(context, request.teamId, request.teamSettings);
    const placement = scope.place(addressed?.backend, name, request.virtualKey);
    const deleted = await this.deleteFrom(placement.backend, name, request, scope);
    // Under dual_write a secret written before the route was may live in a fallback only: deleting it there counts.
    let copyDeleted: DriverDeleteResult | undefined;
    const failures = await copyToFallbacks(
      placement,
      "Delete",
      deleted.name,
      async (target) => {
        copyDeleted ??= (await this.deleteFrom(target, name, request, scope)).result;
      },
      this.deps.logger,
    );
    const result = deleted.result ?? copyDeleted;
    if (!result) {
      const where = (placement.dualWrite ? [placement.backend, ...placement.fallback] : [placement.backend])
        .map((backend) => backend.name)
        .join(", nor in ");
      throw notFound(
        `secret ${JSON.stringify(deleted.name)} does not exist in ` +
          `${where}${failures.length > 0 ? ` (${failures.join("; ")})` : ""}`,
      );
    }
    return create(DeleteResponseSchema, { name: deleted.name, recoverable: result.recoverable });
  }

  private async deleteFrom(
    target: Backend,
    name: string,
    request: DeleteRequest,
    scope: CallScope,
  ): Promise<{ name: string; result: DriverDeleteResult | undefined }> {
    scope.reach(target);
    target.requireWritable("Delete");
    const stored = scope.storedName(target, name, request.virtualKey);
    scope.requireDelete(stored);
    return { name: stored, result: await target.driver.delete(stored, request.force, scope.driverCall(target)) };
  }

  async rotate(request: RotateRequest, context: AuthorizedCall): Promise<RotateResponse> {
    const { explicit, current, next } = this.rotationNames(request);
    validateSecretName(current, "current_name");
    validateSecretName(next, "new_name");
    const scope = await this.access.forCall(context, request.teamId, request.teamSettings);
    const placement = scope.place(explicit, current, request.virtualKey);
    const target = placement.backend;
    target.requireWritable("Rotate");
    const payload = this.payload(target, request.value, new Uint8Array(), "value");
    const settings = scope.settingsOn(target);
    const currentName = target.storedName(current, request.virtualKey, settings, "current_name");
    const newName = target.storedName(next, request.virtualKey, settings, "new_name");
    scope.requireWrite(newName);
    if (newName !== currentName) scope.requireDelete(currentName, ", which rotating to a new name does");
    const call = scope.driverCall(target);

    const existing = await target.driver.read(currentName, call, FRESH);
    if (!existing.value && !(await this.heldByFallback(placement, current, request.virtualKey, scope))) {
      throw notFound(`current_name ${JSON.stringify(currentName)} does not exist in ${target.name}`);
    }
    const description = target.policy.description("", settings);
    const write = {
      value: payload,
      tags: target.policy.tags({}, settings),
      ...(description !== undefined ? { description } : {}),
    };

    const written = await target.driver.write({ name: newName, ...write }, call);
    let oldDeleted = false;
    if (newName !== currentName) {
      const readBack = await target.driver.read(newName, call, FRESH);
      if (readBack.value?.text !== payload.text)
        throw await this.abandonRotation(target, currentName, newName, written, readBack.value, call);
      try {
        await target.driver.delete(currentName, false, call);
      } catch (error) {
        const failure = target.driver.toServiceError(error, call);
        throw new ServiceError(
          failure.code,
          `Rotate stored the new value under ${JSON.stringify(newName)} but could ` +
            `not delete ${JSON.stringify(currentName)}, which still holds the old ` +
            `value: ${failure.message}`,
        );
      }
      oldDeleted = true;
    }
    await copyToFallbacks(
      placement,
      "Rotate",
      newName,
      (copy) => this.mirrorRotation(copy, current, next, payload, request.virtualKey, scope),
      this.deps.logger,
    );
    return create(RotateResponseSchema, { name: newName, version: written.version, oldDeleted });
  }

  /**
   * The names a Rotate works on, without references, and the back end they address: references
   * in both must agree with each other and with the `backend` field. An empty `new_name`
   * rotates in place.
   */
  private rotationNames(request: RotateRequest): { explicit: string | undefined; current: string; next: string } {
    const current = this.address(request.currentName, "current_name", request.backend);
    const next = request.newName === "" ? current : this.address(request.newName, "new_name", request.backend);
    if (current && next && current.backend !== next.backend) {
      throw invalidArgument(
        `new_name refers to back end ${next.backend}, but current_name to ` +
          `${current.backend}: Rotate stays in one back end`,
      );
    }
    return {
      explicit: current?.backend ?? next?.backend,
      current: current?.name ?? request.currentName,
      next: next?.name ?? (request.newName === "" ? request.currentName : request.newName),
    };
  }

  /** Under dual_write, whether a fallback still holds the current secret (written there before the route was). */
  private async heldByFallback(
    placement: Placement<Backend>,
    name: string,
    virtualKey: boolean,
    scope: CallScope,
  ): Promise<boolean> {
    if (!placement.dualWrite) return false;
    for (const fallback of placement.fallback) {
      try {
        scope.reach(fallback);
        const stored = scope.storedName(fallback, name, virtualKey);
        if ((await fallback.driver.read(stored, scope.driverCall(fallback), FRESH)).value) return true;
      } catch {
        // A fallback that cannot say does not hold it for this purpose.
      }
    }
    return false;
  }

  /** A rotation copied to a dual_write fallback: the new name holds the new value there, and the old one is gone. */
  private async mirrorRotation(
    target: Backend,
    current: string,
    next: string,
    payload: SecretPayload,
    virtualKey: boolean,
    scope: CallScope,
  ): Promise<void> {
    scope.reach(target);
    target.requireWritable("Rotate");
    const settings = scope.settingsOn(target);
    const currentName = target.storedName(current, virtualKey, settings, "current_name");
    const newName = target.storedName(next, virtualKey, settings, "new_name");
    scope.requireWrite(newName);
    if (newName !== currentName) scope.requireDelete(currentName);
    const description = target.policy.description("", settings);
    const call = scope.driverCall(target);
    await target.driver.write(
      {
        name: newName,
        value: payload,
        tags: target.policy.tags({}, settings),
        ...(description !== undefined ? { description } : {}),
      },
      call,
    );
    if (newName !== currentName) await target.driver.delete(currentName, false, call);
  }

  /**
   * After a read-back that did not show the new value (the back end lagged, or garbled ours): when
   * this Rotate created the new name and no other writer's version showed, takes back the one
   * version it wrote, where the back end can name that version alone (`versionRemoval`); anything
   * else is left as it is, so another writer's version is never removed. The old secret was never
   * touched. The answer is ABORTED either way, naming what happened (never a value).
   */
  private async abandonRotation(
    target: Backend,
    currentName: string,
    newName: string,
    written: DriverWriteResult,
    readBack: SecretValue | undefined,
    call: DriverCall,
  ): Promise<ServiceError> {
    // What the read-back cached (nothing, or other bytes) is not what the new name holds: the next Read asks again.
    target.driver.invalidate(newName, target.driver.locationOf(call.team));
    const current = `${JSON.stringify(currentName)} is unchanged`;
    const created = JSON.stringify(newName);
    const aborted = (what: string) => new ServiceError(Code.Aborted, `${what}; ${current}`);
    if (!written.created) {
      return aborted(
        `Rotate wrote a new version of ${created} but reading it back did not ` +
          `return it: ${created} already held a secret before this Rotate, so it ` +
          `was left as it is (another writer may have changed it meanwhile)`,
      );
    }
    if (readBack !== undefined && readBack.version !== written.version) {
      return aborted(
        `Rotate created ${created} but reading it back showed another writer's ` +
          `version (${readBack.version}, not ${written.version}), so ${created} ` +
          `was left as it is`,
      );
    }
    const lost = `Rotate created ${created} but reading it back did not return the new value`;
    const removal = target.capabilities.versionRemoval;
    if (!removal) {
      return aborted(
        `${lost}; ${target.name} cannot remove one version of a secret without ` +
          `the others another writer may have added, so ${created} was left as it ` +
          `is, holding the version this Rotate wrote (${written.version}): delete ` +
          `it or rotate again`,
      );
    }
    let removed: boolean;
    try {
      removed = await target.driver.removeWrittenVersion(newName, written, call);
    } catch (error) {
      const failure = target.driver.toServiceError(error, call);
      return aborted(
        `${lost}, and the version it wrote (${written.version}) could not be ` +
          `removed (${statusName(failure.code)}: ${failure.message})`,
      );
    }
    if (!removed)
      return aborted(
        `${lost}, and ${target.name} no longer holds the version it wrote ` +
          `(${written.version}) as written, so ${created} was left as it is ` +
          `(another writer changed it meanwhile)`,
      );
    return aborted(
      `${lost}, so it ${removal === "destroy" ? "destroyed" : "disabled"} the ` +
        `version it wrote (${written.version}), and no other`,
    );
  }

  /**
   * Every back end's hosted names (or the one `backend` names): its configured hosted keys, or
   * without them what it stores (bounded: each listed name is resolved there, and there only).
   * A name two back ends hold is listed for each.
   */
  async listHosted(request: ListHostedRequest, context: AuthorizedCall): Promise<ListHostedResponse> {
    checkRequestedBackend(request.backend, this.backends.has);
    const scope = await this.access.forCall(context, request.teamId, undefined);
    const targets =
      request.backend === ""
        ? this.backends.all.filter((backend) => scope.canReach(backend.name))
        : [this.backends.get(request.backend)!];
    for (const target of targets) scope.reach(target);
    const listed = await Promise.all(targets.map((target) => this.hostedOn(target, scope)));
    const keys = listed.flat().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return create(ListHostedResponseSchema, { keys });
  }

  private async hostedOn(target: Backend, scope: CallScope): Promise<HostedKey[]> {
    const hosted = target.policy.hostedKeyNames;
    let stored: string[] = [];
    if (hosted.length === 0) {
      const call = scope.driverCall(target);
      try {
        stored = (await target.driver.list(call)).slice(0, MAX_LISTED_NAMES);
      } catch (error) {
        const failure = target.driver.toServiceError(error, call);
        throw new ServiceError(failure.code, `cannot list ${target.name}: ${failure.message}`);
      }
    }
    const names = [...new Set([...hosted, ...stored].filter((name) => scope.mayRead(name)))].sort();
    const parameters = {
      virtualKey: false,
      bypassCache: false,
      refreshIfVersion: {},
      backend: target.name,
      backendByService: true,
    };
    const read = this.reader.read(names, (index) => names[index]!, scope, parameters);
    const results = read instanceof Promise ? await read : read;
    return results.map((result, index) =>
      create(HostedKeySchema, {
        name: names[index]!,
        resolves: result.found,
        source: result.source,
        version: result.version,
        backend: target.name,
        stale: result.stale,
        fromCache: result.fromCache,
        ...(result.found && result.fetchedAt ? { fetchedAt: result.fetchedAt } : {}),
        ...(result.error ? { error: result.error } : {}),
      }),
    );
  }

  /**
   * Stores (or, empty, clears) a team's settings. The admin must be allowed to administer the team
   * where its settings are now and where the new ones place it: both back ends.
   */
  async setTeamSettings(request: SetTeamSettingsRequest, context: AuthorizedCall): Promise<SetTeamSettingsResponse> {
    const scope = this.access.forAdmin(context, "manage team settings");
    const stored = await scope.administer(request.teamId);
    // An editor sends back what GetTeamSettings showed: a credential left "[redacted]" keeps its stored value.
    const sent = request.settings ?? {};
    const previous = hasRedacted(sent) ? stored?.settings : undefined;
    const settings = validateTeamSettingsOn(
      this.backends,
      withStoredCredentials(this.backends, sent, previous, "settings"),
      "settings",
    );
    if (Object.keys(settings).length > 0) scope.reach(this.backends.homeName(settings));
    if (Object.keys(settings).length === 0) {
      await this.deps.teams.clear(request.teamId);
      return create(SetTeamSettingsResponseSchema, { teamId: request.teamId, settings: {}, configured: false });
    }
    const saved = await this.deps.teams.set(request.teamId, settings);
    return create(SetTeamSettingsResponseSchema, {
      teamId: request.teamId,
      settings: this.redact(saved.settings) as JsonObject,
      configured: true,
    });
  }

  async getTeamSettings(request: GetTeamSettingsRequest, context: AuthorizedCall): Promise<GetTeamSettingsResponse> {
    const stored = await this.access.forAdmin(context, "manage team settings").administer(request.teamId);
    if (!stored)
      return create(GetTeamSettingsResponseSchema, { teamId: request.teamId, settings: {}, configured: false });
    return create(GetTeamSettingsResponseSchema, {
      teamId: request.teamId,
      settings: this.redact(stored.settings) as JsonObject,
      configured: true,
      updatedAt: timestampFromMs(stored.updatedAt.getTime()),
    });
  }

  /** A name's back end by its reference or the request's `backend` field (see addressOf). */
  private address(name: string, field: string, requested: string): Addressed | undefined {
    checkRequestedBackend(requested, this.backends.has);
    return addressOf(name, field, requested, this.backends.has);
  }

  private payload(target: Backend, text: string, binary: Uint8Array, field = "value"): SecretPayload {
    const limit = this.deps.config.server.max_value_bytes;
    if (binary.length > 0) {
      if (text !== "") throw invalidArgument(`set only one of ${field} and binary_value`);
      if (!target.capabilities.binary)
        throw invalidArgument(`binary_value is not supported by ${target.name}; send value as text`);
      if (binary.length > limit)
        throw invalidArgument(`binary_value is ${binary.length} bytes; the limit is ${limit} bytes`);
      return { binary };
    }
    if (text === "") throw invalidArgument(`${field} must not be empty`);
    const bytes = Buffer.byteLength(text, "utf8");
    if (bytes > limit) throw invalidArgument(`${field} is ${bytes} bytes; the limit is ${limit} bytes`);
    return { text };
  }

  private validateTags(tags: Readonly<Record<string, string>>): void {
    const entries = Object.entries(tags);
    if (entries.length > MAX_TAGS)
      throw invalidArgument(`tags has ${entries.length} entries; the limit is ${MAX_TAGS}`);
    for (const [key, value] of entries) {
      if (key === "" || key.length > 128) throw invalidArgument("tags keys must be 1 to 128 characters");
      if (value.length > 256) throw invalidArgument(`tags[${JSON.stringify(key)}] is longer than 256 characters`);
    }
  }

  /** Credential-like values out, by the keys of the back end the settings belong to. */
  private redact(settings: Record<string, unknown>): Record<string, unknown> {
    const home = typeof settings.backend === "string" ? this.backends.get(settings.backend) : undefined;
    return redactTeamSettings(settings, (home ?? this.backends.default).definition.sensitiveTeamKeys);
  }
}

/** Whether settings hold REDACTED anywhere (only then do stored credentials stand in for any). */
function hasRedacted(settings: JsonObject): boolean {
  return JSON.stringify(settings).includes(JSON.stringify(REDACTED));
}
