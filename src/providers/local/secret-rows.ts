import type { SecretMetadata } from "../../drivers/driver.js";
import type { SecretDatabase } from "../../storage/database.js";

/** A secret's current version as stored: the value sealed under the master key. */
export interface StoredVersion {
  version: number;
  isBinary: boolean;
  sealed: Uint8Array;
}

export interface AppendedVersion {
  version: number;
  created: boolean;
}

export interface NewVersion {
  isBinary: boolean;
  description: string | undefined;
  tags: Record<string, string>;
  /** Seals the value for the version number the store assigns (the number is bound into the seal). */
  seal(version: number): Uint8Array;
}

/**
 * Where the embedded store keeps its rows: SQLite in the data directory, or PostgreSQL shared
 * by replicas. The versioning and sealing rules live in LocalDriver, once.
 */
export interface SecretRows {
  current(name: string): Promise<StoredVersion | undefined>;
  /**
   * Adds the next version (one more than the last, also across deletes) in one transaction;
   * returns its number, and whether the name held no live secret before (a deleted name's values
   * are gone, so writing it again creates it).
   */
  append(name: string, entry: NewVersion): Promise<AppendedVersion>;
  /** The description and tags the last write set; undefined when the name holds no live secret. */
  metadata(name: string): Promise<SecretMetadata | undefined>;
  /** Marks the name deleted and drops its values; false when it did not exist. */
  tombstone(name: string): Promise<boolean>;
  /**
   * Drops one version in one transaction: the whole name (as `tombstone`) while that version is
   * the current one, else that version's row alone (a later write is current and stays); false
   * when the name holds no such version any more.
   */
  removeVersion(name: string, version: number): Promise<boolean>;
  names(): Promise<string[]>;
}

/** The metadata of a row, its tags as stored (JSON text in SQLite, JSONB in PostgreSQL). */
export function rowMetadata(description: string | null, tags: unknown): SecretMetadata {
  let parsed: unknown;
  try {
    parsed = typeof tags === "string" ? JSON.parse(tags) : tags;
  } catch {
    parsed = undefined;
  }
  if (
    parsed === null ||
    typeof parsed !== "object" ||
    Array.isArray(parsed) ||
    !Object.values(parsed).every((value) => typeof value === "string")
  ) {
    throw new Error("a secret's stored tags are not a JSON object of strings");
  }
  return { ...(description !== null ? { description } : {}), tags: { ...(parsed as Record<string, string>) } };
}

export class SqliteSecretRows implements SecretRows {
  constructor(private readonly database: SecretDatabase) {}

  async current(name: string): Promise<StoredVersion | undefined> {
    const row = this.database.sql
      .prepare(
        `SELECT v.version, v.is_binary, v.sealed FROM secrets s
         JOIN secret_versions v ON v.name = s.name AND v.version = s.current_version
         WHERE s.name = ? AND s.deleted = 0`,
      )
      .get(name) as { version: number; is_binary: number; sealed: Uint8Array } | undefined;
    return row && { version: row.version, isBinary: row.is_binary === 1, sealed: row.sealed };
  }

  async append(name: string, entry: NewVersion): Promise<AppendedVersion> {
    const now = Date.now();
    return this.database.transaction(() => {
      const current = this.database.sql
        .prepare("SELECT current_version, deleted FROM secrets WHERE name = ?")
        .get(name) as { current_version: number; deleted: number } | undefined;
      const next = (current?.current_version ?? 0) + 1;
      this.database.sql
        .prepare(`INSERT INTO secret_versions (name, version, is_binary, sealed, created_at) VALUES (?, ?, ?, ?, ?)`)
        .run(name, next, entry.isBinary ? 1 : 0, entry.seal(next), now);
      this.database.sql
        .prepare(
          `INSERT INTO secrets (name, current_version, description, tags, deleted, updated_at) VALUES (?, ?, ?, ?, 0, ?)
           ON CONFLICT (name) DO UPDATE SET current_version = excluded.current_version,
             description = excluded.description, tags = excluded.tags, deleted = 0, updated_at = excluded.updated_at`,
        )
        .run(name, next, entry.description ?? null, JSON.stringify(entry.tags), now);
      return { version: next, created: current === undefined || current.deleted === 1 };
    });
  }

  async metadata(name: string): Promise<SecretMetadata | undefined> {
    const row = this.database.sql
      .prepare("SELECT description, tags FROM secrets WHERE name = ? AND deleted = 0")
      .get(name) as { description: string | null; tags: string } | undefined;
    return row && rowMetadata(row.description, row.tags);
  }

  async tombstone(name: string): Promise<boolean> {
    return this.database.transaction(() => {
      const result = this.database.sql
        .prepare("UPDATE secrets SET deleted = 1, updated_at = ? WHERE name = ? AND deleted = 0")
        .run(Date.now(), name);
      if (result.changes === 0) return false;
      // The values go at once; the tombstone row keeps the version counter.
      this.database.sql.prepare("DELETE FROM secret_versions WHERE name = ?").run(name);
      return true;
    });
  }

  async removeVersion(name: string, version: number): Promise<boolean> {
    return this.database.transaction(() => {
      const row = this.database.sql.prepare("SELECT current_version, deleted FROM secrets WHERE name = ?").get(name) as
        | { current_version: number; deleted: number }
        | undefined;
      if (!row || row.deleted === 1) return false;
      if (row.current_version === version) {
        this.database.sql
          .prepare("UPDATE secrets SET deleted = 1, updated_at = ? WHERE name = ?")
          .run(Date.now(), name);
        this.database.sql.prepare("DELETE FROM secret_versions WHERE name = ?").run(name);
        return true;
      }
      return (
        this.database.sql.prepare("DELETE FROM secret_versions WHERE name = ? AND version = ?").run(name, version)
          .changes > 0
      );
    });
  }

  async names(): Promise<string[]> {
    const rows = this.database.sql.prepare("SELECT name FROM secrets WHERE deleted = 0 ORDER BY name").all() as {
      name: string;
    }[];
    return rows.map((row) => row.name);
  }
}
