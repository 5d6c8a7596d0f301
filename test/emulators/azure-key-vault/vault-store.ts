import { randomBytes } from "node:crypto";

/** One version of a secret as Key Vault keeps it. */
export interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  created: number;
  updated: number;
}

interface StoredSecret {
  /** The name as first written; Key Vault names are case-insensitive but keep their spelling. */
  name: string;
  /** Oldest first; the last one is current. */
  versions: SecretVersion[];
}

interface DeletedSecret extends StoredSecret {
  deletedDate: number;
  scheduledPurgeDate: number;
}

export const RECOVERABLE_DAYS = 90;
/** Key Vault's limit on a secret value: 25 KB. */
export const MAX_VALUE_BYTES = 25 * 1024;
const NAME = /^[0-9a-zA-Z-]{1,127}$/;

export class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Key Vault's `innererror.code`, where it gives one. */
    readonly innerCode?: string,
  ) {
    super(message);
  }
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * The state of one emulated vault: live secrets with their versions and soft-deleted ones,
 * with Key Vault's rules (case-insensitive names, 409 for a deleted-but-not-purged name).
 */
export class VaultStore {
  private readonly live = new Map<string, StoredSecret>();
  private readonly deleted = new Map<string, DeletedSecret>();

  set(
    name: string,
    input: { value: string; contentType?: string; tags?: Record<string, string>; enabled?: boolean },
  ): { name: string; version: SecretVersion } {
    checkName(name);
    if (Buffer.byteLength(input.value, "utf8") > MAX_VALUE_BYTES) {
      throw new VaultError(
        400,
        "BadParameter",
        `The secret value exceeds the maximum allowed size of ${MAX_VALUE_BYTES} bytes.`,
      );
    }
    const key = name.toLowerCase();
    if (this.deleted.has(key)) {
      throw new VaultError(
        409,
        "Conflict",
        `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can be recovered or purged.`,
      );
    }
    const secret = this.live.get(key) ?? { name, versions: [] };
    const time = nowSeconds();
    const version: SecretVersion = {
      version: randomBytes(16).toString("hex"),
      value: input.value,
      ...(input.contentType !== undefined ? { contentType: input.contentType } : {}),
      ...(input.tags !== undefined ? { tags: { ...input.tags } } : {}),
      enabled: input.enabled ?? true,
      created: time,
      updated: time,
    };
    secret.versions.push(version);
    this.live.set(key, secret);
    return { name: secret.name, version };
  }

  get(name: string, version?: string): { name: string; version: SecretVersion } {
    const secret = this.live.get(name.toLowerCase());
    const found = version
      ? secret?.versions.find((candidate) => candidate.version === version)
      : secret?.versions.at(-1);
    if (!secret || !found) throw notFound(name, version);
    return { name: secret.name, version: found };
  }

  update(
    name: string,
    version: string | undefined,
    changes: { contentType?: string; tags?: Record<string, string>; enabled?: boolean },
  ): { name: string; version: SecretVersion } {
    const found = this.get(name, version);
    if (changes.contentType !== undefined) found.version.contentType = changes.contentType;
    if (changes.tags !== undefined) found.version.tags = { ...changes.tags };
    if (changes.enabled !== undefined) found.version.enabled = changes.enabled;
    found.version.updated = nowSeconds();
    return found;
  }

  list(): Array<{ name: string; version: SecretVersion }> {
    return [...this.live.values()].map((secret) => ({ name: secret.name, version: secret.versions.at(-1)! }));
  }

  versions(name: string): Array<{ name: string; version: SecretVersion }> {
    const secret = this.live.get(name.toLowerCase());
    if (!secret) throw notFound(name);
    return secret.versions.map((version) => ({ name: secret.name, version }));
  }

  delete(name: string): DeletedSecret {
    const key = name.toLowerCase();
    const secret = this.live.get(key);
    if (!secret) throw notFound(name);
    this.live.delete(key);
    const time = nowSeconds();
    const deleted: DeletedSecret = {
      ...secret,
      deletedDate: time,
      scheduledPurgeDate: time + RECOVERABLE_DAYS * 86400,
    };
    this.deleted.set(key, deleted);
    return deleted;
  }

  getDeleted(name: string): DeletedSecret {
    const deleted = this.deleted.get(name.toLowerCase());
    if (!deleted) throw new VaultError(404, "SecretNotFound", `Deleted Secret not found: ${name}`);
    return deleted;
  }

  listDeleted(): DeletedSecret[] {
    return [...this.deleted.values()];
  }

  purge(name: string): void {
    this.getDeleted(name);
    this.deleted.delete(name.toLowerCase());
  }

  recover(name: string): { name: string; version: SecretVersion } {
    const deleted = this.getDeleted(name);
    const key = name.toLowerCase();
    this.deleted.delete(key);
    this.live.set(key, { name: deleted.name, versions: deleted.versions });
    return { name: deleted.name, version: deleted.versions.at(-1)! };
  }
}

function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw new VaultError(400, "BadParameter", `The request URI contains an invalid name: ${name}`);
  }
}

function notFound(name: string, version?: string): VaultError {
  const what = version ? `(name/id) ${name}/${version}` : `(name/id) ${name}`;
  return new VaultError(
    404,
    "SecretNotFound",
    `A secret with ${what} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.`,
  );
}
