import type { Pool } from "pg";

/**
 * Everything lives in its own schema: DATABASE_URL is usually LiteLLM's database, whose tables
 * are not ours to crowd. Each entry moves the schema one version forward; `schema_migrations`
 * records which ran.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE secretgate.meta (key TEXT PRIMARY KEY, value BYTEA NOT ` +
    `NULL);\n` +
    `   CREATE TABLE secretgate.secrets (\n` +
    `     name TEXT PRIMARY KEY,\n` +
    `     current_version INTEGER NOT NULL,\n` +
    `     description TEXT,\n` +
    `     tags JSONB NOT NULL DEFAULT '{}',\n` +
    `     deleted BOOLEAN NOT NULL DEFAULT false,\n` +
    `     updated_at TIMESTAMPTZ NOT NULL\n` +
    `   );\n` +
    `   CREATE TABLE secretgate.secret_versions (\n` +
    `     name TEXT NOT NULL,\n` +
    `     version INTEGER NOT NULL,\n` +
    `     is_binary BOOLEAN NOT NULL,\n` +
    `     sealed BYTEA NOT NULL,\n` +
    `     created_at TIMESTAMPTZ NOT NULL,\n` +
    `     PRIMARY KEY (name, version)\n` +
    `   );\n` +
    `   CREATE TABLE secretgate.team_settings (team_id TEXT PRIMARY KEY, ` +
    `sealed BYTEA NOT NULL, updated_at TIMESTAMPTZ NOT NULL);`,
];

// pg_advisory_lock takes a bigint; any constant that no other application picks will do ("sgmigrat").
const MIGRATION_LOCK = "7453677469677261";

/**
 * Brings the schema up to date. Replicas starting together queue on one advisory lock, so
 * exactly one applies each migration and the others find it done.
 */
export async function migrate(pool: Pool): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1::bigint)", [MIGRATION_LOCK]);
    try {
      await client.query("CREATE SCHEMA IF NOT EXISTS secretgate");
      await client.query(
        "CREATE TABLE IF NOT EXISTS secretgate.schema_migrations (version " +
          "INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
      );
      const { rows } = await client.query<{ version: number | null }>(
        "SELECT max(version) AS version FROM secretgate.schema_migrations",
      );
      const current = rows[0]?.version ?? 0;
      if (current > MIGRATIONS.length) {
        throw new Error(
          `the PostgreSQL schema (version ${current}) is newer than this secretgate understands (${MIGRATIONS.length})`,
        );
      }
      for (let version = current; version < MIGRATIONS.length; version++) {
        await client.query("BEGIN");
        try {
          await client.query(MIGRATIONS[version]!);
          await client.query("INSERT INTO secretgate.schema_migrations (version) VALUES ($1)", [version + 1]);
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK");
          throw error;
        }
      }
      return MIGRATIONS.length;
    } finally {
      await client.query("SELECT pg_advisory_unlock($1::bigint)", [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}
