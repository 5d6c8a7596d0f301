import { z } from "zod";
import { Code, ServiceError } from "../../core/errors.js";
import type { SecretDatabase } from "../../storage/database.js";
import type {
  ClassifiedError,
  DriverDefinition,
  DriverDeleteResult,
  DriverWrite,
  DriverWriteResult,
  SecretDriver,
  SecretValue,
} from "../../drivers/driver.js";

/**
 * The embedded default: secrets in the service's own SQLite database, each version sealed
 * with AES-256-GCM under the master key, the name and version bound as associated data.
 * Versions count up from 1 and keep counting after a delete, so a re-created name never
 * reuses a version id a cache may still hold.
 */
export class LocalDriver implements SecretDriver {
  readonly capabilities = { write: true, binary: true, list: true };

  constructor(private readonly database: SecretDatabase) {}

  async read(name: string): Promise<SecretValue | undefined> {
    const row = this.database.sql
      .prepare(
        `SELECT v.version, v.is_binary, v.sealed FROM secrets s
         JOIN secret_versions v ON v.name = s.name AND v.version = s.current_version
         WHERE s.name = ? AND s.deleted = 0`,
      )
      .get(name) as { version: number; is_binary: number; sealed: Uint8Array } | undefined;
    if (!row) return undefined;
    const plaintext = this.database.open(row.sealed, sealContext(name, row.version));
    const version = String(row.version);
    return row.is_binary ? { binary: new Uint8Array(plaintext), version } : { text: plaintext.toString("utf8"), version };
  }

  async write(request: DriverWrite): Promise<DriverWriteResult> {
    const { name, value } = request;
    const isBinary = value.binary !== undefined;
    const plaintext = isBinary ? value.binary : Buffer.from(value.text, "utf8");
    const now = Date.now();
    const version = this.database.transaction(() => {
      const current = this.database.sql.prepare("SELECT current_version FROM secrets WHERE name = ?").get(name) as
        | { current_version: number }
        | undefined;
      const next = (current?.current_version ?? 0) + 1;
      this.database.sql
        .prepare(
          `INSERT INTO secret_versions (name, version, is_binary, sealed, created_at) VALUES (?, ?, ?, ?, ?)`,
        )
        .run(name, next, isBinary ? 1 : 0, this.database.seal(plaintext, sealContext(name, next)), now);
      this.database.sql
        .prepare(
          `INSERT INTO secrets (name, current_version, description, tags, deleted, updated_at) VALUES (?, ?, ?, ?, 0, ?)
           ON CONFLICT (name) DO UPDATE SET current_version = excluded.current_version, description = excluded.description,
             tags = excluded.tags, deleted = 0, updated_at = excluded.updated_at`,
        )
        .run(name, next, request.description ?? null, JSON.stringify(request.tags), now);
      return next;
    });
    return { version: String(version) };
  }

  async delete(name: string): Promise<DriverDeleteResult | undefined> {
    const deleted = this.database.transaction(() => {
      const result = this.database.sql
        .prepare("UPDATE secrets SET deleted = 1, updated_at = ? WHERE name = ? AND deleted = 0")
        .run(Date.now(), name);
      if (result.changes === 0) return false;
      // The values go at once; the tombstone row keeps the version counter.
      this.database.sql.prepare("DELETE FROM secret_versions WHERE name = ?").run(name);
      return true;
    });
    return deleted ? { recoverable: false } : undefined;
  }

  async list(): Promise<string[]> {
    const rows = this.database.sql.prepare("SELECT name FROM secrets WHERE deleted = 0 ORDER BY name").all() as { name: string }[];
    return rows.map((row) => row.name);
  }

  classifyError(error: unknown): ClassifiedError {
    if (error instanceof ServiceError) return { code: error.code, message: error.message };
    return { code: Code.Internal, message: `embedded store failed: ${(error as Error).message}` };
  }

  async close(): Promise<void> {
    // The database belongs to the service (team settings live there too); it closes it.
  }
}

const sealContext = (name: string, version: number) => `secret:${version}:${name}`;

export const localDriver: DriverDefinition = {
  name: "local",
  teamSettings: z.strictObject({
    prefix: z.string().optional(),
    description: z.string().optional(),
    tags: z.record(z.string(), z.string()).optional(),
  }),
  create: async ({ database }) => new LocalDriver(database),
};
