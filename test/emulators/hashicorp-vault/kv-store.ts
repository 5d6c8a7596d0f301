/** Vault's KV version 2 engine, in memory: versions, soft delete, undelete, destroy, metadata, check-and-set. */

interface Version {
  data: Record<string, unknown> | null;
  created: string;
  deletionTime: string;
  destroyed: boolean;
}

interface Entry {
  versions: Map<number, Version>;
  currentVersion: number;
  oldestVersion: number;
  maxVersions: number;
  casRequired: boolean;
  customMetadata: Record<string, string> | null;
  created: string;
  updated: string;
}

/** A KV answer: HTTP status and JSON body (Vault's envelope is added by the server). */
export interface KvAnswer {
  status: number;
  data?: unknown;
  errors?: string[];
}

const DEFAULT_MAX_VERSIONS = 10;
let lastNanos = 0n;
/** A time as Vault writes it (RFC 3339 with nanoseconds); two versions here never share one. */
function now(): string {
  const nanos = BigInt(Date.now()) * 1_000_000n;
  lastNanos = nanos > lastNanos ? nanos : lastNanos + 1n;
  const seconds = new Date(Number(lastNanos / 1_000_000n)).toISOString().slice(0, 19);
  return `${seconds}.${(lastNanos % 1_000_000_000n).toString().padStart(9, "0")}Z`;
}

export class KvStore {
  private readonly entries = new Map<string, Entry>();

  private static key(namespace: string, mount: string, path: string): string {
    return `${namespace}\u0000${mount}\u0000${path}`;
  }

  exists(namespace: string, mount: string, path: string): boolean {
    return this.entries.has(KvStore.key(namespace, mount, path));
  }

  read(namespace: string, mount: string, path: string, requested?: number): KvAnswer {
    const entry = this.entries.get(KvStore.key(namespace, mount, path));
    if (!entry) return { status: 404, errors: [] };
    const number = requested && requested > 0 ? requested : entry.currentVersion;
    const version = entry.versions.get(number);
    if (!version) return { status: 404, errors: [] };
    const metadata = versionMetadata(number, version, entry);
    // Vault answers 404 for a deleted or destroyed version, still carrying its metadata.
    if (version.deletionTime !== "" || version.destroyed) return { status: 404, data: { data: null, metadata } };
    return { status: 200, data: { data: version.data, metadata } };
  }

  write(namespace: string, mount: string, path: string, body: any): KvAnswer {
    if (body?.data === undefined || body.data === null || typeof body.data !== "object")
      return { status: 400, errors: ["no data provided"] };
    const key = KvStore.key(namespace, mount, path);
    const entry = this.entries.get(key) ?? newEntry();
    const cas = body.options?.cas;
    if (cas === undefined && entry.casRequired)
      return { status: 400, errors: ["check-and-set parameter required for this call"] };
    if (cas !== undefined && Number(cas) !== entry.currentVersion) {
      return { status: 400, errors: ["check-and-set parameter did not match the current version"] };
    }
    const number = entry.currentVersion + 1;
    const version: Version = { data: body.data, created: now(), deletionTime: "", destroyed: false };
    entry.versions.set(number, version);
    entry.currentVersion = number;
    entry.updated = version.created;
    if (entry.oldestVersion === 0) entry.oldestVersion = number;
    while (entry.versions.size > entry.maxVersions) {
      entry.versions.delete(entry.oldestVersion);
      entry.oldestVersion += 1;
    }
    this.entries.set(key, entry);
    return { status: 200, data: versionMetadata(number, version, entry) };
  }

  /** DELETE data/: soft-deletes the latest version. */
  deleteLatest(namespace: string, mount: string, path: string): KvAnswer {
    const entry = this.entries.get(KvStore.key(namespace, mount, path));
    const latest = entry?.versions.get(entry.currentVersion);
    if (latest && latest.deletionTime === "") latest.deletionTime = now();
    return { status: 204 };
  }

  /** POST delete/, undelete/, destroy/ with `{"versions": [...]}`. */
  changeVersions(
    namespace: string,
    mount: string,
    path: string,
    action: "delete" | "undelete" | "destroy",
    body: any,
  ): KvAnswer {
    const versions: unknown = body?.versions;
    if (!Array.isArray(versions) || versions.length === 0)
      return { status: 400, errors: ["no version number provided"] };
    const entry = this.entries.get(KvStore.key(namespace, mount, path));
    for (const number of versions) {
      const version = entry?.versions.get(Number(number));
      if (!version || version.destroyed) continue;
      if (action === "delete" && version.deletionTime === "") version.deletionTime = now();
      if (action === "undelete") version.deletionTime = "";
      if (action === "destroy") {
        version.destroyed = true;
        version.data = null;
      }
    }
    return { status: 204 };
  }

  readMetadata(namespace: string, mount: string, path: string): KvAnswer {
    const entry = this.entries.get(KvStore.key(namespace, mount, path));
    if (!entry) return { status: 404, errors: [] };
    const versions = Object.fromEntries(
      [...entry.versions].map(([number, version]) => [
        String(number),
        { created_time: version.created, deletion_time: version.deletionTime, destroyed: version.destroyed },
      ]),
    );
    return {
      status: 200,
      data: {
        cas_required: entry.casRequired,
        created_time: entry.created,
        current_version: entry.currentVersion,
        custom_metadata: entry.customMetadata,
        delete_version_after: "0s",
        max_versions: entry.maxVersions === DEFAULT_MAX_VERSIONS ? 0 : entry.maxVersions,
        oldest_version: entry.oldestVersion,
        updated_time: entry.updated,
        versions,
      },
    };
  }

  writeMetadata(namespace: string, mount: string, path: string, body: any): KvAnswer {
    const problems = customMetadataProblems(body?.custom_metadata);
    if (problems.length > 0) return { status: 400, errors: problems };
    const key = KvStore.key(namespace, mount, path);
    const entry = this.entries.get(key) ?? newEntry();
    if (typeof body?.max_versions === "number")
      entry.maxVersions = body.max_versions > 0 ? body.max_versions : DEFAULT_MAX_VERSIONS;
    if (typeof body?.cas_required === "boolean") entry.casRequired = body.cas_required;
    if (body?.custom_metadata && typeof body.custom_metadata === "object") entry.customMetadata = body.custom_metadata;
    entry.updated = now();
    this.entries.set(key, entry);
    return { status: 204 };
  }

  deleteMetadata(namespace: string, mount: string, path: string): KvAnswer {
    this.entries.delete(KvStore.key(namespace, mount, path));
    return { status: 204 };
  }

  /** LIST metadata/: the names directly under a folder, sub-folders with a trailing '/'. */
  list(namespace: string, mount: string, folder: string): KvAnswer {
    const start = KvStore.key(namespace, mount, folder === "" ? "" : `${folder.replace(/\/$/, "")}/`);
    const keys = new Set<string>();
    for (const key of this.entries.keys()) {
      if (!key.startsWith(start)) continue;
      const rest = key.slice(start.length);
      const slash = rest.indexOf("/");
      keys.add(slash < 0 ? rest : rest.slice(0, slash + 1));
    }
    if (keys.size === 0) return { status: 404, errors: [] };
    return { status: 200, data: { keys: [...keys].sort() } };
  }
}

/** Vault's bounds on custom_metadata (lengths in bytes, as Go's len counts them). */
const MAX_CUSTOM_METADATA_KEYS = 64;
const MAX_CUSTOM_METADATA_KEY_BYTES = 128;
const MAX_CUSTOM_METADATA_VALUE_BYTES = 512;
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}]/u;

/** Vault's validateCustomMetadata: every problem, each prefixed as Vault words it; none for a missing map. */
function customMetadataProblems(metadata: unknown): string[] {
  if (metadata === undefined || metadata === null || typeof metadata !== "object") return [];
  const prefix = "custom_metadata validation failed";
  const entries = Object.entries(metadata as Record<string, unknown>);
  const problems: string[] = [];
  if (entries.length > MAX_CUSTOM_METADATA_KEYS) {
    problems.push(
      `${prefix}: payload must contain at most ${MAX_CUSTOM_METADATA_KEYS} keys, provided ${entries.length}`,
    );
  }
  for (const [key, value] of entries) {
    const keyBytes = Buffer.byteLength(key);
    const valueBytes = Buffer.byteLength(String(value));
    if (keyBytes === 0 || keyBytes > MAX_CUSTOM_METADATA_KEY_BYTES) {
      problems.push(
        `${prefix}: length of key ${JSON.stringify(key)} is ${keyBytes} but must be 0 < len(key) <= ${MAX_CUSTOM_METADATA_KEY_BYTES}`,
      );
    }
    if (valueBytes > MAX_CUSTOM_METADATA_VALUE_BYTES) {
      problems.push(
        `${prefix}: length of value for key ${JSON.stringify(key)} is ${valueBytes} but must be 0 <= len(value) <= ${MAX_CUSTOM_METADATA_VALUE_BYTES}`,
      );
    }
    if (UNPRINTABLE.test(key)) problems.push(`${prefix}: key ${JSON.stringify(key)} contains unprintable characters`);
    if (UNPRINTABLE.test(String(value)))
      problems.push(`${prefix}: value for key ${JSON.stringify(key)} contains unprintable characters`);
  }
  return problems;
}

function newEntry(): Entry {
  const created = now();
  return {
    versions: new Map(),
    currentVersion: 0,
    oldestVersion: 0,
    maxVersions: DEFAULT_MAX_VERSIONS,
    casRequired: false,
    customMetadata: null,
    created,
    updated: created,
  };
}

function versionMetadata(number: number, version: Version, entry: Entry) {
  return {
    created_time: version.created,
    custom_metadata: entry.customMetadata,
    deletion_time: version.deletionTime,
    destroyed: version.destroyed,
    version: number,
  };
}
