import type { SecretMetadata } from "../../drivers/driver.js";
import type { PostgresDatabase } from "../../storage/postgres/postgres-database.js";
import {
  type AppendedVersion,
  type NewVersion,
  rowMetadata,
  type SecretRows,
  type StoredVersion,
} from "./secret-rows.js";

/** The embedded store's rows in the PostgreSQL database replicas share. */
export class PostgresSecretRows implements SecretRows {
  constructor(private readonly database: PostgresDatabase) {}

  async current(name: string): Promise<StoredVersion | undefined> {
    const { rows } = await this.database.pool.query<{ version: number; is_binary: boolean; sealed: Buffer }>(
      `SELECT v.version, v.is_binary, v.sealed FROM secretgate.secrets s
       JOIN secretgate.secret_versions v ON v.name = s.name AND v.version = s.current_version
       WHERE s.name = $1 AND NOT s.deleted`,
      [name],
    );
    const row = rows[0];
    return row && { version: row.version, isBinary: row.is_binary, sealed: row.sealed };
  }

  async append(name: string, entry: NewVersion): Promise<AppendedVersion> {
    return this.database.transaction(async (client) => {
      // The row exists before it is locked, so two replicas writing a new name take turns
      // instead of one failing on the primary key.
      await client.query(
        `INSERT INTO secretgate.secrets (name, current_version, deleted, updated_at) VALUES ($1, 0, true, now())
         ON CONFLICT (name) DO NOTHING`,
        [name],
      );
      const { rows } = await client.query<{ current_version: number; deleted: boolean }>(
        "SELECT current_version, deleted FROM secretgate.secrets WHERE name = $1 FOR UPDATE",
        [name],
      );
      // Read under the lock: of two replicas writing a new name, only the first finds it deleted.
      const { current_version: current, deleted } = rows[0]!;
      const next = current + 1;
      await client.query(
        "INSERT INTO secretgate.secret_versions (name, version, is_binary, " +
          "sealed, created_at) VALUES ($1, $2, $3, $4, now())",
        [name, next, entry.isBinary, entry.seal(next)],
      );
      await client.query(
        `UPDATE secretgate.secrets SET current_version = $2, description = $3, ` +
          `tags = $4, deleted = false, updated_at = now()\n` +
          `         WHERE name = $1`,
        [name, next, entry.description ?? null, JSON.stringify(entry.tags)],
      );
      return { version: next, created: deleted };
    });
  }

  async metadata(name: string): Promise<SecretMetadata | undefined> {
    const { rows } = await this.database.pool.query<{ description: string | null; tags: unknown }>(
      "SELECT description, tags FROM secretgate.secrets WHERE name = $1 AND NOT deleted",
      [name],
    );
    const row = rows[0];
    return row && rowMetadata(row.description, row.tags);
  }

  async tombstone(name: string): Promise<boolean> {
    return this.database.transaction(async (client) => {
      const result = await client.query(
        "UPDATE secretgate.secrets SET deleted = true, updated_at = now() WHERE name = $1 AND NOT deleted",
        [name],
      );
      if (result.rowCount === 0) return false;
      // The values go at once; the tombstone row keeps the version counter.
      await client.query("DELETE FROM secretgate.secret_versions WHERE name = $1", [name]);
      return true;
    });
  }

  async removeVersion(name: string, version: number): Promise<boolean> {
    return this.database.transaction(async (client) => {
      // Locked as a write locks it, so no version is appended between the check and the removal.
      const { rows } = await client.query<{ current_version: number; deleted: boolean }>(
        "SELECT current_version, deleted FROM secretgate.secrets WHERE name = $1 FOR UPDATE",
        [name],
      );
      const row = rows[0];
      if (!row || row.deleted) return false;
      if (row.current_version === version) {
        await client.query("UPDATE secretgate.secrets SET deleted = true, updated_at = now() WHERE name = $1", [name]);
        await client.query("DELETE FROM secretgate.secret_versions WHERE name = $1", [name]);
        return true;
      }
      const removed = await client.query("DELETE FROM secretgate.secret_versions WHERE name = $1 AND version = $2", [
        name,
        version,
      ]);
      return (removed.rowCount ?? 0) > 0;
    });
  }

  async names(): Promise<string[]> {
    const { rows } = await this.database.pool.query<{ name: string }>(
      "SELECT name FROM secretgate.secrets WHERE NOT deleted ORDER BY name",
    );
    return rows.map((row) => row.name);
  }
}
