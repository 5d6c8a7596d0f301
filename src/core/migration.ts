import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import {
  ExistingMetadata,
  type LeftOutName,
  LeftOutNameSchema,
  type MigrateSecretRequest,
  type MigrateSecretResponse,
  MigrateSecretResponseSchema,
  MigrationOutcome,
  type PlanMigrationRequest,
  type PlanMigrationResponse,
  PlanMigrationResponseSchema,
} from "../../gen/secretgate/v1/admin_service_pb.js";
import { compileGlob } from "../auth/identity.js";
import type { DriverCall, SecretMetadata, SecretPayload, SecretValue } from "../drivers/driver.js";
import type { AdminScope } from "./access.js";
import { type Backend, NO_TEAM } from "./backends.js";
import { Code, failedPrecondition, invalidArgument, notFound, ServiceError } from "./errors.js";
import { validateSecretName } from "./names.js";

/** The most names one migration handles: a plan of 512-byte names stays well inside a 4 MiB message. */
export const MAX_MIGRATED_NAMES = 5000;
const MAX_MATCH_GLOBS = 100;
const MAX_GLOB_CHARS = 512;
/** How often one secret is copied again because its source changed meanwhile, before giving up. */
const MAX_COPY_ATTEMPTS = 3;
/** Tags AWS sets itself (CloudFormation's, …): AWS refuses them on writes, and they describe the old home. */
const AWS_SYSTEM_TAG = /^aws:/i;

/** A secret as one back end holds it: its value (digested to compare copies) and its metadata. */
interface Held {
  value: SecretValue;
  digest: Buffer;
  /** Undefined where the back end keeps no metadata. */
  metadata: SecretMetadata | undefined;
}

/** What a copy brings: the source's value and the part of its metadata the destination keeps. */
interface Wanted {
  payload: SecretPayload;
  digest: Buffer;
  version: string;
  description: string | undefined;
  tags: Record<string, string>;
  /** What the source holds that the destination cannot keep. */
  notKept: string[];
}

/**
 * Live migration between back ends (`secretgate migrate`): the names a source holds, and the copy
 * of one secret — value, description and tags — to a destination under the same name, verified by
 * reading it back. Both the MigrateSecret RPC and the CLI's in-process mode run it; the CLI drives
 * it name by name. It works in the global (no-team) location, reads the source as Read would (its
 * access mode, hosted keys and virtual-key prefix), and asks the caller's scope (access.ts) for
 * everything else; values never leave the core, not even as digests.
 */
export class Migration {
  constructor(private readonly backendNamed: (name: string) => Backend | undefined) {}

  /**
   * The names `request.from_backend` holds that `match` selects and the caller may read, sorted,
   * those Read would not serve from the source apart (`left_out`); at most MAX_MIGRATED_NAMES.
   */
  async plan(request: PlanMigrationRequest, scope: AdminScope): Promise<PlanMigrationResponse> {
    const { from, to } = this.endpoints(request.fromBackend, request.toBackend, request.deleteSource, scope);
    const patterns = matchPatterns(request.match);
    if (!from.capabilities.list)
      throw failedPrecondition(`${from.name} cannot list the secrets it holds, so there is nothing to migrate from it`);
    const call = from.driverCall("", NO_TEAM, scope.call);
    let listed: string[];
    try {
      listed = await from.driver.list(call);
    } catch (error) {
      const failure = from.driver.toServiceError(error, call);
      throw new ServiceError(failure.code, `cannot list ${from.name}: ${failure.message}`);
    }
    const names: string[] = [];
    const leftOut: LeftOutName[] = [];
    // Names the caller may not read are left out unnamed: listing them would show what its rules hide.
    for (const name of [...new Set(listed)].sort()) {
      if (!patterns.some((pattern) => pattern.test(name)) || !scope.mayRead(name)) continue;
      const route = from.policy.routeStored(name);
      if (route.from === "backend") names.push(name);
      else leftOut.push(create(LeftOutNameSchema, { name, reason: route.reason }));
    }
    const selected = names.length + leftOut.length;
    if (selected > MAX_MIGRATED_NAMES) {
      throw invalidArgument(
        `match selects ${selected} secrets in ${from.name}; one migration ` +
          `handles at most ${MAX_MIGRATED_NAMES}: narrow it with more specific ` +
          `globs`,
      );
    }
    return create(PlanMigrationResponseSchema, { names, leftOut, existingMetadata: existingMetadataOn(to) });
  }

  /**
   * Copies one secret unless the destination already matches, verifies the copy, and then (with
   * `delete_source`) deletes the source. A writer that changes the source while it is copied
   * makes it copy again (see `copy`). Every failure is a ServiceError saying what happened.
   */
  async migrate(request: MigrateSecretRequest, scope: AdminScope): Promise<MigrateSecretResponse> {
    const { from, to } = this.endpoints(request.fromBackend, request.toBackend, request.deleteSource, scope);
    const { name } = request;
    validateSecretName(name, "name");
    const shown = JSON.stringify(name);
    scope.requireRead(name);
    scope.requireWrite(name);
    if (request.deleteSource) scope.requireDelete(name);
    const route = from.policy.routeStored(name);
    if (route.from === "environment")
      throw failedPrecondition(
        `${from.name} does not serve ${shown} to Read (${route.reason}), so a migration leaves it where it is`,
      );
    const fromCall = from.driverCall("", NO_TEAM, scope.call);
    const copied = await this.copy(from, to, name, request.dryRun, fromCall, to.driverCall("", NO_TEAM, scope.call));
    let sourceDeleted = false;
    if (request.deleteSource && !request.dryRun) {
      try {
        sourceDeleted = (await from.driver.delete(name, false, fromCall)) !== undefined;
      } catch (error) {
        const failure = from.driver.toServiceError(error, fromCall);
        throw new ServiceError(
          failure.code,
          `copied ${shown} to ${to.name} and verified it, but could not delete it ` +
            `from ${from.name}: ${failure.message}`,
        );
      }
    }
    return create(MigrateSecretResponseSchema, { name, ...copied, sourceDeleted });
  }

  /**
   * The copy itself. What the destination needs is decided before anything is written: nothing
   * (it matches), the value, its metadata, or both; metadata a destination cannot change on a
   * secret it holds is refused here, before any write. Metadata is brought over in place first
   * where the destination can (no new version when the value matches), else with the value's
   * write. The source is read again after the destination was written: a write that reached the
   * source meanwhile (a proxy's, through a `dual_write` route whose back end is the source) may
   * have reached the destination before this copy's write overwrote it, so the copy starts over
   * with the new value. A source deleted meanwhile takes this copy away again.
   */
  private async copy(
    from: Backend,
    to: Backend,
    name: string,
    dryRun: boolean,
    fromCall: DriverCall,
    toCall: DriverCall,
  ): Promise<Pick<MigrateSecretResponse, "outcome" | "overwritten" | "notKept" | "version" | "warnings">> {
    const shown = JSON.stringify(name);
    for (let attempt = 1; attempt <= MAX_COPY_ATTEMPTS; attempt++) {
      const source = await held(from, name, fromCall);
      if (!source) throw notFound(`${from.name} does not hold ${shown} (any more)`);
      const wanted = wantedOn(to, source, name);
      const existing = await held(to, name, toCall);
      const change = existing && changeOf(existing, wanted, from);
      if (existing && !change) {
        return {
          outcome: MigrationOutcome.UNCHANGED,
          overwritten: false,
          notKept: wanted.notKept,
          version: existing.value.version,
          warnings: [],
        };
      }
      const inPlace = change?.metadata !== undefined && existingMetadataOn(to) === ExistingMetadata.UPDATED;
      if (change?.metadata && existingMetadataOn(to) === ExistingMetadata.REFUSED) {
        throw failedPrecondition(
          `${to.name} holds ${shown} with ${change.metadataDifference}, and cannot ` +
            `change an existing secret's metadata: delete it there and migrate again ` +
            `(nothing was written)`,
        );
      }
      if (dryRun)
        return {
          outcome: MigrationOutcome.WOULD_COPY,
          overwritten: existing !== undefined,
          notKept: wanted.notKept,
          version: "",
          warnings: [],
        };

      if (inPlace) await to.driver.updateMetadata(name, change!.metadata!, toCall);
      const writesValue = !existing || change!.value || !inPlace;
      const written = writesValue
        ? await to.driver.write({ name, value: wanted.payload, ...metadataWritten(to, wanted, existing) }, toCall)
        : { version: existing.value.version, warnings: [] };
      const { version, warnings = [] } = written;
      const copy = await held(to, name, toCall);
      const now = await from.driver.readUncached(name, fromCall);
      if (!now) {
        if (!writesValue)
          throw notFound(
            `${shown} was deleted from ${from.name} while it was copied; ` +
              `${to.name}'s secret, which held its value already, was left as it is`,
          );
        throw await withdraw(from, to, name, version, copy, toCall);
      }
      if (now.version !== wanted.version || !digestOf(now).equals(wanted.digest)) continue;
      if (!copy)
        throw new ServiceError(
          Code.Aborted,
          `copied ${shown} to ${to.name}, but reading it back found nothing there ` +
            `(another writer may have deleted it meanwhile)`,
        );
      const difference = differenceFrom(copy, wanted, from);
      if (difference === "value") {
        throw new ServiceError(
          Code.Aborted,
          `copied ${shown} to ${to.name}, but reading it back showed a different ` +
            `value (another writer may have changed it meanwhile): the source was ` +
            `left as it is`,
        );
      }
      if (difference !== undefined) {
        // The back end's own word on why, when it gave one; else the likeliest reason.
        const why =
          warnings.length > 0
            ? `${to.name} said: ${warnings.join("; ")}`
            : `${to.name} did not take it (another writer may have changed it meanwhile)`;
        throw failedPrecondition(`copied ${shown} to ${to.name}, but reading it back showed ${difference}: ${why}`);
      }
      return {
        outcome: MigrationOutcome.COPIED,
        overwritten: existing !== undefined,
        notKept: wanted.notKept,
        version,
        warnings,
      };
    }
    throw new ServiceError(
      Code.Aborted,
      `${shown} changed in ${from.name} during each of ${MAX_COPY_ATTEMPTS} ` +
        `copies; migrate it again once writes to it settle`,
    );
  }

  /**
   * Checks the caller's scope (the global location, both back ends) and the two back ends: the
   * source must serve reads, as Read would. Errors name the request field.
   */
  private endpoints(
    fromName: string,
    toName: string,
    deleteSource: boolean,
    scope: AdminScope,
  ): { from: Backend; to: Backend } {
    scope.requireGlobal("migrate secrets");
    const from = this.named(fromName, "from_backend");
    const to = this.named(toName, "to_backend");
    if (from === to)
      throw invalidArgument(
        `to_backend names ${to.name}, which is from_backend too: a migration copies to another back end`,
      );
    scope.reach(from);
    scope.reach(to);
    from.requireReadable(`Migrating from ${from.name}`);
    to.requireWritable(`Copying to ${to.name}`);
    if (deleteSource) from.requireWritable(`Deleting from ${from.name} (delete_source)`);
    return { from, to };
  }

  private named(name: string, field: string): Backend {
    if (name === "") throw invalidArgument(`${field} must name a back end`);
    const backend = this.backendNamed(name);
    if (!backend) throw invalidArgument(`${field} ${JSON.stringify(name)} is not a configured back end`);
    return backend;
  }
}

/** `match` compiled with the rules' glob matcher; none selects every name. */
function matchPatterns(globs: readonly string[]): RegExp[] {
  if (globs.length > MAX_MATCH_GLOBS)
    throw invalidArgument(`match lists ${globs.length} globs; the limit is ${MAX_MATCH_GLOBS}`);
  if (globs.length === 0) return [/^/];
  return globs.map((glob, index) => {
    if (glob === "") throw invalidArgument(`match[${index}] must not be empty`);
    if (glob.length > MAX_GLOB_CHARS)
      throw invalidArgument(`match[${index}] is ${glob.length} characters long; the limit is ${MAX_GLOB_CHARS}`);
    return compileGlob(glob);
  });
}

/** The secret's current value straight from the back end (never the cache) and its metadata, or undefined. */
async function held(target: Backend, name: string, call: DriverCall): Promise<Held | undefined> {
  const value = await target.driver.readUncached(name, call);
  if (!value) return undefined;
  const metadata = target.capabilities.metadata ? await target.driver.describe(name, call) : undefined;
  return { value, digest: digestOf(value), metadata };
}

/** What copying `source` to `to` writes: its value, and its description and tags where `to` keeps them. */
function wantedOn(to: Backend, source: Held, name: string): Wanted {
  const { value } = source;
  if (value.binary !== undefined && !to.capabilities.binary) {
    throw failedPrecondition(
      `${JSON.stringify(name)} holds a binary value, which ${to.name} cannot keep (it stores text only)`,
    );
  }
  const keeps = to.capabilities.metadata;
  const description = source.metadata?.description || undefined;
  const tags = Object.fromEntries(
    Object.entries(source.metadata?.tags ?? {}).filter(([key]) => !AWS_SYSTEM_TAG.test(key)),
  );
  const notKept: string[] = [];
  if (description !== undefined && !keeps?.description) notKept.push("description");
  const hasTags = Object.keys(tags).length > 0;
  if (hasTags && !keeps?.tags) notKept.push("tags");
  return {
    payload: value.binary !== undefined ? { binary: value.binary } : { text: value.text ?? "" },
    digest: source.digest,
    version: value.version,
    description: keeps?.description ? description : undefined,
    tags: hasTags && keeps?.tags ? tags : {},
    notKept,
  };
}

/** What a destination that already holds a secret lacks of a copy: its value, its metadata, or both. */
interface Change {
  value: boolean;
  /** The description and the tags it must take, when its own differ; undefined when they match. */
  metadata: SecretMetadata | undefined;
  /** Which metadata differs, for messages (tag keys, never descriptions or tag values). */
  metadataDifference: string;
}

/** How `existing` differs from what a copy brings; undefined when it matches. */
function changeOf(existing: Held, wanted: Wanted, from: Backend): Change | undefined {
  const value = !existing.digest.equals(wanted.digest);
  const held = existing.metadata ?? { tags: {} };
  const description =
    wanted.description !== undefined && held.description !== wanted.description ? wanted.description : undefined;
  const tags = Object.fromEntries(
    Object.entries(wanted.tags).filter(([key, tag]) => !Object.hasOwn(held.tags, key) || held.tags[key] !== tag),
  );
  const tagKeys = Object.keys(tags);
  if (!value && description === undefined && tagKeys.length === 0) return undefined;
  const differences = [
    ...(description !== undefined ? [`a description other than ${from.name}'s`] : []),
    ...(tagKeys.length > 0
      ? [
          `tag${tagKeys.length > 1 ? "s" : ""} ` +
            `${tagKeys.map((key) => JSON.stringify(key)).join(", ")} other than ` +
            `${from.name}'s`,
        ]
      : []),
  ];
  const metadata = differences.length > 0 ? { ...(description !== undefined ? { description } : {}), tags } : undefined;
  return { value, metadata, metadataDifference: differences.join(" and ") };
}

/**
 * How `to` takes the metadata of a secret it already holds (PlanMigration's `existing_metadata`):
 * in place, with a written version, not at all (so such a secret is refused), or it keeps none.
 */
function existingMetadataOn(to: Backend): ExistingMetadata {
  const { driver } = to.driver;
  const kept = to.capabilities.metadata;
  if (!kept || (!kept.description && !kept.tags)) return ExistingMetadata.NOT_KEPT;
  if (driver.updateMetadata) return ExistingMetadata.UPDATED;
  return kept.writesReplace ? ExistingMetadata.REWRITTEN : ExistingMetadata.REFUSED;
}

/**
 * The description and tags a copy's write carries: the source's over the destination's own
 * (a write may replace all of a secret's metadata, and tags or a description the source does not
 * have are the destination's to keep).
 */
function metadataWritten(
  to: Backend,
  wanted: Wanted,
  existing: Held | undefined,
): { description?: string; tags: Record<string, string> } {
  const own = existing?.metadata;
  const ownTags = Object.fromEntries(Object.entries(own?.tags ?? {}).filter(([key]) => !AWS_SYSTEM_TAG.test(key)));
  const tags = to.capabilities.metadata?.tags ? { ...ownTags, ...wanted.tags } : wanted.tags;
  const description = wanted.description ?? (to.capabilities.metadata?.description ? own?.description : undefined);
  return { tags, ...(description !== undefined ? { description } : {}) };
}

/**
 * How `held` differs from what a copy writes — "value", or which metadata — or undefined when
 * it matches. Only what a copy writes counts: tags the destination has besides are its own.
 * Messages name tag keys, never descriptions or tag values.
 */
function differenceFrom(held: Held, wanted: Wanted, from: Backend): string | undefined {
  if (!held.digest.equals(wanted.digest)) return "value";
  if (wanted.description !== undefined && held.metadata?.description !== wanted.description)
    return `a description other than ${from.name}'s`;
  const tags = held.metadata?.tags ?? {};
  for (const [key, value] of Object.entries(wanted.tags)) {
    if (!Object.hasOwn(tags, key) || tags[key] !== value) return `tag ${JSON.stringify(key)} other than ${from.name}'s`;
  }
  return undefined;
}

/** SHA-256 over the kind and the bytes: a text value and bytes that spell it differ. */
function digestOf(value: SecretValue): Buffer {
  const hash = createHash("sha256").update(value.binary !== undefined ? "binary\0" : "text\0");
  return hash.update(value.binary ?? Buffer.from(value.text ?? "", "utf8")).digest();
}

/**
 * The source's secret was deleted while it was copied (a proxy revoked a virtual key): the copy
 * must not bring it back. It is removed when the destination still holds exactly this copy's
 * version; another writer's is left. Returns the failure to report.
 */
async function withdraw(
  from: Backend,
  to: Backend,
  name: string,
  version: string,
  copy: Held | undefined,
  call: DriverCall,
): Promise<ServiceError> {
  const deleted = `${JSON.stringify(name)} was deleted from ${from.name} while it was copied`;
  if (copy?.value.version !== version)
    return notFound(`${deleted}; ${to.name} holds another writer's version now, which was left as it is`);
  try {
    await to.driver.delete(name, false, call);
  } catch (error) {
    const failure = to.driver.toServiceError(error, call);
    return new ServiceError(
      failure.code,
      `${deleted}, and its copy could not be removed from ${to.name}: ${failure.message}`,
    );
  }
  return notFound(`${deleted}, so its copy was removed from ${to.name} again`);
}
