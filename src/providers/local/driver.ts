import type {
  ClassifiedError,
  DriverContext,
  DriverDeleteResult,
  DriverWrite,
  DriverWriteResult,
  SecretDriver,
  SecretMetadata,
  SecretValue,
} from "../../drivers/driver.js";
import type { SecretDatabase } from "../../storage/database.js";
import { classifyLocalError } from "./errors.js";
import { PostgresSecretRows } from "./postgres-secret-rows.js";
import { type SecretRows, SqliteSecretRows } from "./secret-rows.js";

/**
 * The embedded default: secrets in the service's own database (SQLite, or PostgreSQL shared by
 * replicas), each version sealed with AES-256-GCM under the master key, the name and version
 * bound as associated data. Versions count up from 1 and keep counting after a delete, so a
 * re-created name never reuses a version id a cache may still hold.
 */
export class LocalDriver implements SecretDriver {
  constructor(
    private readonly database: SecretDatabase,
    private readonly rows: SecretRows = new SqliteSecretRows(database),
  ) {}

  async read(name: string): Promise<SecretValue | undefined> {
    const row = await this.rows.current(name);
    if (!row) return undefined;
    const plaintext = this.database.open(row.sealed, sealContext(name, row.version));
    const version = String(row.version);
    return row.isBinary
      ? { binary: new Uint8Array(plaintext), version }
      : { text: plaintext.toString("utf8"), version };
  }

  async write(request: DriverWrite): Promise<DriverWriteResult> {
    const { name, value } = request;
    const isBinary = value.binary !== undefined;
    const plaintext = isBinary ? value.binary : Buffer.from(value.text, "utf8");
    const { version, created } = await this.rows.append(name, {
      isBinary,
      description: request.description,
      tags: request.tags,
      seal: (next) => this.database.seal(plaintext, sealContext(name, next)),
    });
    return { version: String(version), created };
  }

  /** Each write sets the description and tags anew (replacing the previous write's); they are not sealed. */
  async describe(name: string): Promise<SecretMetadata | undefined> {
    return this.rows.metadata(name);
  }

  async delete(name: string): Promise<DriverDeleteResult | undefined> {
    return (await this.rows.tombstone(name)) ? { recoverable: false } : undefined;
  }

  /** Version numbers are never reused (they keep counting across deletes): the number alone names the version. */
  async removeWrittenVersion(name: string, written: DriverWriteResult): Promise<boolean> {
    const version = Number(written.version);
    if (!Number.isSafeInteger(version) || version < 1) return false;
    return this.rows.removeVersion(name, version);
  }

  async list(): Promise<string[]> {
    return this.rows.names();
  }

  /** One store for every team: a team's `prefix` changes a name, never where it lives. */
  locationKey(): string {
    return "";
  }

  classifyError(error: unknown): ClassifiedError {
    return classifyLocalError(error);
  }

  async close(): Promise<void> {
    // The databases belong to the service (team settings live there too); it closes them.
  }
}

const sealContext = (name: string, version: number) => `secret:${version}:${name}`;

/** The embedded store, in the service's SQLite database, or in PostgreSQL when DATABASE_URL is set. */
export async function createDriver({ database, postgres }: DriverContext): Promise<SecretDriver> {
  return new LocalDriver(database, postgres ? new PostgresSecretRows(postgres) : undefined);
}
