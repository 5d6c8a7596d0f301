import pg from "pg";
import type { Logger } from "pino";
import type { SecretDatabase } from "../database.js";
import { MasterKeyError } from "../master-key.js";
import { SealError } from "../sealing.js";
import { DatabaseUnavailableError } from "./database-unavailable.js";
import { migrate } from "./migrations.js";

const KEY_CHECK = "key_check";
const KEY_CHECK_CONTEXT = "secretgate:key-check";
const KEY_CHECK_PLAINTEXT = "secretgate master key check v1";

/** Several replicas each hold a few connections; the notice listener has its own. */
const POOL_SIZE = 10;
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * The PostgreSQL database replicas share (DATABASE_URL): team settings and the embedded store's
 * secrets, sealed with the same master key as the SQLite database. Opening it applies pending
 * migrations and checks that this replica's master key is the one the database was sealed with.
 */
export class PostgresDatabase {
  private constructor(
    readonly pool: pg.Pool,
    readonly url: string,
    /** Seals and opens values with the master key. */
    readonly sealer: Pick<SecretDatabase, "seal" | "open">,
  ) {}

  static async open(options: {
    url: string;
    sealer: Pick<SecretDatabase, "seal" | "open">;
    logger: Logger;
    applicationName: string;
  }): Promise<PostgresDatabase> {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: POOL_SIZE,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: options.applicationName,
    });
    // An idle connection the server drops (restart, failover) must not crash the process.
    pool.on("error", (error) =>
      options.logger.warn(
        { error: error.message },
        "a pooled PostgreSQL connection failed; it is replaced on next use",
      ),
    );
    try {
      await migrate(pool);
      await checkMasterKey(pool, options.sealer);
    } catch (error) {
      await pool.end();
      if (error instanceof MasterKeyError) throw error;
      throw new DatabaseUnavailableError(
        `cannot open the PostgreSQL database (DATABASE_URL): ${(error as Error).message}`,
      );
    }
    return new PostgresDatabase(pool, options.url, options.sealer);
  }

  /** Runs `work` in one transaction on one connection: all of it commits, or none of it does. */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // A connection checked out of the pool has no error listener of the pool's: one that breaks
    // between two statements (the server restarting) would otherwise crash the process with an
    // unhandled 'error' event. The statement after it fails instead, and the connection is dropped.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on("error", onError);
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      if (!broken) await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.off("error", onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** The first replica stores a sealed check value; every later one must be able to open it. */
async function checkMasterKey(pool: pg.Pool, sealer: Pick<SecretDatabase, "seal" | "open">): Promise<void> {
  await pool.query("INSERT INTO secretgate.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [
    KEY_CHECK,
    sealer.seal(Buffer.from(KEY_CHECK_PLAINTEXT), KEY_CHECK_CONTEXT),
  ]);
  const { rows } = await pool.query<{ value: Buffer }>("SELECT value FROM secretgate.meta WHERE key = $1", [KEY_CHECK]);
  try {
    sealer.open(rows[0]!.value, KEY_CHECK_CONTEXT);
  } catch (error) {
    if (!(error instanceof SealError)) throw error;
    throw new MasterKeyError(
      "the master key is not the key the PostgreSQL database (DATABASE_URL) " +
        "was created with; every replica needs the same SECRETGATE_MASTER_KEY",
    );
  }
}
