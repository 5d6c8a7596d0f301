import { Code, failedPrecondition, ServiceError } from "../../core/errors.js";
import type {
  ClassifiedError,
  DriverCall,
  DriverContext,
  DriverDeleteResult,
  DriverWrite,
  DriverWriteResult,
  SecretDriver,
  SecretMetadata,
  SecretValue,
} from "../../drivers/driver.js";
import { classifyVaultError } from "./errors.js";
import { listKvNames } from "./kv-listing.js";
import {
  readVaultSettings,
  refreshIntervalSeconds,
  trimSlashes,
  type VaultSettings,
  type VaultTeam,
} from "./settings.js";
import { TokenSession } from "./token-session.js";
import { VaultApiError, VaultHttp, type VaultRequest, type VaultResponse } from "./vault-http.js";

/** LiteLLM stores the value under this field of the KV v2 secret; a team's `data` picks another. */
export const DEFAULT_VALUE_FIELD = "key";

/** Where one team's secrets live: the resolved namespace, mount, path prefix and value field. */
interface Location {
  namespace: string;
  mount: string;
  pathPrefix: string;
  field: string;
}

type KvArea = "data" | "metadata" | "destroy";

/**
 * KV v2 secrets at `{addr}/v1/[{namespace}/]{mount}/{data|metadata}/[{path_prefix}/]{name}`,
 * the value in one field (`key` by default). Writes add versions; a default delete is Vault's
 * soft delete of the latest version (undeletable), `force` removes the metadata and all versions.
 */
export class VaultDriver implements SecretDriver {
  // sdkRetries: VaultHttp already retries 412/429/5xx and connection failures a bounded number of times, as Vault's
  // own client does.
  constructor(
    private readonly settings: VaultSettings,
    private readonly http: VaultHttp,
    private readonly session: TokenSession,
  ) {}

  async read(name: string, call: DriverCall): Promise<SecretValue | undefined> {
    const location = this.location(call.team);
    const response = await this.missingAsUndefined(
      this.send(
        { method: "GET", path: kvPath(location, "data", name), operation: describe("read", name, location) },
        call.signal,
      ),
    );
    if (!response) return undefined;
    const data = response.body?.data?.data;
    const version = String(response.body?.data?.metadata?.version ?? "");
    // A soft-deleted latest version answers 404 in Vault; a null body is the same thing.
    if (data === null || data === undefined) return undefined;
    // The secret's own field only: `constructor` or `__proto__` are members of every object, not fields.
    const value: unknown = isObject(data) && Object.hasOwn(data, location.field) ? data[location.field] : undefined;
    if (value === undefined || value === null) {
      throw failedPrecondition(
        `Vault secret ${JSON.stringify(name)} exists but has no field ${JSON.stringify(location.field)}`,
      );
    }
    return { text: typeof value === "string" ? value : JSON.stringify(value), version };
  }

  async write(request: DriverWrite, call: DriverCall): Promise<DriverWriteResult> {
    if (request.value.text === undefined) throw new ServiceError(Code.InvalidArgument, "Vault stores text values only");
    const location = this.location(call.team);
    const data: Record<string, string> = { [location.field]: request.value.text };
    if (request.description !== undefined && location.field !== "description") data.description = request.description;
    const response = await this.send(
      {
        method: "POST",
        path: kvPath(location, "data", request.name),
        body: { data },
        operation: describe("write", request.name, location),
      },
      call.signal,
    );
    const version = String(response.body?.data?.version ?? "");
    // KV v2 numbers a path's versions from 1 until its metadata is deleted: version 1 is the
    // write that created the secret (after a soft delete, numbering goes on).
    const created = version === "1";
    // The version's creation time tells it apart from a version 1 written after the metadata is deleted.
    const createdTime: unknown = response.body?.data?.created_time;
    const stamp = typeof createdTime === "string" && createdTime !== "" ? { versionStamp: createdTime } : {};
    if (Object.keys(request.tags).length === 0) return { version, created, ...stamp };
    // Tags are KV v2 custom metadata: a second call, so a policy without metadata writes costs the tags, not the value.
    try {
      await this.send(
        {
          method: "POST",
          path: kvPath(location, "metadata", request.name),
          body: { custom_metadata: request.tags },
          operation: describe("tagging", request.name, location),
        },
        call.signal,
      );
      return { version, created, ...stamp };
    } catch (error) {
      if (call.signal.aborted) throw error;
      return {
        version,
        created,
        ...stamp,
        warnings: [`the value was stored but its tags were not: ${this.classifyError(error).message}`],
      };
    }
  }

  /**
   * Destroys the version the write made (POST destroy/ names versions), after the metadata shows
   * that version number still carries the write's creation time: KV v2 reuses numbers from 1 once
   * a path's metadata is deleted. Versions other writers added stay, the newest what reads return.
   * Only a version 1 (the write that created the path), so no older version is hidden.
   */
  async removeWrittenVersion(name: string, written: DriverWriteResult, call: DriverCall): Promise<boolean> {
    if (written.version !== "1" || written.versionStamp === undefined) return false;
    const location = this.location(call.team);
    const response = await this.missingAsUndefined(
      this.send(
        {
          method: "GET",
          path: kvPath(location, "metadata", name),
          operation: describe("metadata read", name, location),
        },
        call.signal,
      ),
    );
    const held = response?.body?.data?.versions?.[written.version];
    if (!isObject(held) || held.created_time !== written.versionStamp || held.destroyed === true) return false;
    await this.send(
      {
        method: "POST",
        path: kvPath(location, "destroy", name),
        body: { versions: [Number(written.version)] },
        operation: describe("destroy", name, location),
      },
      call.signal,
    );
    return true;
  }

  /**
   * One read of the current version: the `description` field a write puts next to the value (each
   * version's data is whole, so a write without one leaves none) and the secret's custom_metadata,
   * which Vault returns with it (replaced by a write with tags, untouched by one without). When the
   * team's value field is itself `description`, that field is the value: no description is reported.
   */
  async describe(name: string, call: DriverCall): Promise<SecretMetadata | undefined> {
    const location = this.location(call.team);
    const response = await this.missingAsUndefined(
      this.send(
        { method: "GET", path: kvPath(location, "data", name), operation: describe("metadata read", name, location) },
        call.signal,
      ),
    );
    const data: unknown = response?.body?.data?.data;
    if (!isObject(data)) return undefined;
    const description = location.field === "description" ? undefined : data.description;
    return {
      ...(typeof description === "string" ? { description } : {}),
      tags: stringEntries(response?.body?.data?.metadata?.custom_metadata),
    };
  }

  async delete(name: string, options: { force: boolean }, call: DriverCall): Promise<DriverDeleteResult | undefined> {
    const location = this.location(call.team);
    // Vault answers 204 to deleting what is not there; the metadata says whether it was.
    const current = await this.liveVersion(location, name, call.signal, options.force);
    if (current === undefined) return undefined;
    const area: KvArea = options.force ? "metadata" : "data";
    await this.send(
      {
        method: "DELETE",
        path: kvPath(location, area, name),
        operation: describe(options.force ? "force delete" : "delete", name, location),
      },
      call.signal,
    );
    return { recoverable: !options.force };
  }

  async currentVersion(name: string, call: DriverCall): Promise<string | undefined> {
    return this.liveVersion(this.location(call.team), name, call.signal, false);
  }

  /** The secrets under the location's mount and path prefix, named as read takes them (see kv-listing.ts). */
  async list(call: DriverCall): Promise<string[]> {
    const location = this.location(call.team);
    return listKvNames({
      where: [location.namespace, location.mount, "metadata", location.pathPrefix]
        .filter((part) => part !== "")
        .join("/"),
      keys: async (folder) => {
        // GET with ?list=true rather than the LIST verb, as Vault's own client does: proxies pass it.
        const path = `${kvPath(location, "metadata", folder.replace(/\/$/, ""))}/?list=true`;
        const response = await this.missingAsUndefined(
          this.send({ method: "GET", path, operation: describe("list", folder || "/", location) }, call.signal),
        );
        const keys: unknown = response?.body?.data?.keys;
        return Array.isArray(keys) ? keys : [];
      },
      isLive: async (name) => (await this.liveVersion(location, name, call.signal, false)) !== undefined,
    });
  }

  locationKey(team: Readonly<Record<string, unknown>>): string {
    const { namespace, mount, pathPrefix, field } = this.location(team);
    return JSON.stringify([namespace, mount, pathPrefix, field]);
  }

  classifyError(error: unknown): ClassifiedError {
    return classifyVaultError(error, this.settings.address);
  }

  async close(): Promise<void> {
    this.session.close();
    this.http.close();
  }

  /** The version a read would return, or undefined when there is none (missing or soft-deleted). */
  private async liveVersion(
    location: Location,
    name: string,
    signal: AbortSignal,
    includeDeleted: boolean,
  ): Promise<string | undefined> {
    const response = await this.missingAsUndefined(
      this.send(
        {
          method: "GET",
          path: kvPath(location, "metadata", name),
          operation: describe("metadata read", name, location),
        },
        signal,
      ),
    );
    const metadata = response?.body?.data;
    if (!metadata) return undefined;
    const current = String(metadata.current_version ?? "");
    const latest = metadata.versions?.[current];
    const live = latest && latest.deletion_time === "" && latest.destroyed !== true;
    return live || includeDeleted ? current : undefined;
  }

  /** A KV miss (404 with an empty `errors` list) as undefined; an unknown mount stays an error. */
  private async missingAsUndefined(pending: Promise<VaultResponse>): Promise<VaultResponse | undefined> {
    try {
      return await pending;
    } catch (error) {
      if (error instanceof VaultApiError && error.status === 404 && error.errors.length === 0) return undefined;
      throw error;
    }
  }

  /** A data call with the session's token; one 403 caused by an expired token means one fresh login and one retry. */
  private async send(request: Omit<VaultRequest, "token" | "namespace">, signal: AbortSignal): Promise<VaultResponse> {
    const token = await this.session.token(signal);
    try {
      return await this.http.send({ ...request, token }, signal);
    } catch (error) {
      if (!(error instanceof VaultApiError && error.status === 403)) throw error;
      const fresh = await this.session.replaceRejected(token, signal);
      if (fresh === undefined) throw error;
      return this.http.send({ ...request, token: fresh }, signal);
    }
  }

  private location(team: Readonly<Record<string, unknown>>): Location {
    const settings = team as VaultTeam;
    return {
      namespace: settings.namespace !== undefined ? trimSlashes(settings.namespace) : this.settings.secretNamespace,
      mount: settings.mount !== undefined ? trimSlashes(settings.mount) : this.settings.mount,
      pathPrefix: settings.path_prefix !== undefined ? trimSlashes(settings.path_prefix) : this.settings.pathPrefix,
      field: settings.data ?? DEFAULT_VALUE_FIELD,
    };
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The string-valued entries of what Vault sent as custom_metadata (null when a secret has none). */
function stringEntries(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === "string"),
  );
}

function kvPath(location: Location, area: KvArea, name: string): string {
  return [location.namespace, location.mount, area, location.pathPrefix, name]
    .filter((part) => part !== "")
    .flatMap((part) => part.split("/"))
    .map(encodeURIComponent)
    .join("/");
}

/** Names the secret and where it lives, for messages: `read of "OPENAI_API_KEY" in admin/secret`. */
function describe(verb: string, name: string, location: Location): string {
  return (
    `${verb} of ${JSON.stringify(name)} in ` +
    `${[location.namespace, location.mount].filter((part) => part !== "").join("/")}`
  );
}

/** Vault's HTTP API (KV v2), logged in as settings say: AppRole, a TLS certificate, or a token. */
export async function createDriver({ env, logger }: DriverContext): Promise<SecretDriver> {
  const settings = readVaultSettings(env);
  // A malformed refresh interval is a start-up error, not a surprise at the first cached read.
  refreshIntervalSeconds(env);
  const { auth } = settings;
  const http = new VaultHttp(settings.address, {
    ...(settings.caFile ? { caFile: settings.caFile } : {}),
    ...(auth.kind === "cert" ? { certFile: auth.certFile, keyFile: auth.keyFile } : {}),
  });
  const session = new TokenSession(http, auth, settings.loginNamespace, logger);
  return new VaultDriver(settings, http, session);
}
