import type { KeyObject } from "node:crypto";
import { closeSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { loadMasterKey, MasterKeyError } from "./master-key.js";
import { makePrivateDirectory, openPrivateFileForAppend } from "./private-files.js";
import { open, SealError, seal } from "./sealing.js";

export const DATABASE_FILE = "secretgate.db";

// Each entry moves the schema one version forward; PRAGMA user_version records how far.
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
   CREATE TABLE secrets (
     name TEXT PRIMARY KEY,
     current_version INTEGER NOT NULL,
     description TEXT,
     tags TEXT NOT NULL DEFAULT '{}',
     deleted INTEGER NOT NULL DEFAULT 0,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE secret_versions (
     name TEXT NOT NULL,
     version INTEGER NOT NULL,
     is_binary INTEGER NOT NULL,
     sealed BLOB NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (name, version)
   );
   CREATE TABLE team_settings (team_id TEXT PRIMARY KEY, sealed BLOB NOT NULL, updated_at INTEGER NOT NULL);`,
];

const KEY_CHECK = "key_check";
const KEY_CHECK_CONTEXT = "secretgate:key-check";
const KEY_CHECK_PLAINTEXT = "secretgate master key check v1";

/**
 * The service's SQLite database in the data directory, with the master key that seals every
 * secret value and team setting in it. Opening it verifies the key, so a wrong key is a clear
 * start-up error rather than garbage later.
 */
export class SecretDatabase {
  private constructor(
    readonly sql: DatabaseSync,
    readonly masterKey: KeyObject,
    readonly path: string,
  ) {}

  static open(options: { dataDir: string; masterKeyEnv: string | undefined }): {
    database: SecretDatabase;
    generatedKeyFile?: string;
  } {
    makePrivateDirectory(options.dataDir);
    const path = join(options.dataDir, DATABASE_FILE);
    // Made here so that it is 0600: SQLite creates a database with the umask's mode, and gives
    // the -wal and -shm files it makes next to it the database file's mode.
    closeSync(openPrivateFileForAppend(path));
    const sql = new DatabaseSync(path);
    try {
      // WAL keeps readers off writers' backs; synchronous=FULL makes a commit durable before Write returns.
      sql.exec(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
      );
      migrate(sql);
      const check = sql.prepare("SELECT value FROM meta WHERE key = ?").get(KEY_CHECK) as
        | { value: Uint8Array }
        | undefined;
      const { key, origin, generated } = loadMasterKey({
        dataDir: options.dataDir,
        envValue: options.masterKeyEnv,
        freshDatabase: check === undefined,
      });
      if (check === undefined) {
        sql
          .prepare("INSERT INTO meta (key, value) VALUES (?, ?)")
          .run(KEY_CHECK, seal(key, Buffer.from(KEY_CHECK_PLAINTEXT), KEY_CHECK_CONTEXT));
      } else {
        try {
          open(key, check.value, KEY_CHECK_CONTEXT);
        } catch (error) {
          if (!(error instanceof SealError)) throw error;
          throw new MasterKeyError(`the master key from ${origin} is not the key ${path} was created with`);
        }
      }
      return { database: new SecretDatabase(sql, key, path), ...(generated ? { generatedKeyFile: origin } : {}) };
    } catch (error) {
      sql.close();
      throw error;
    }
  }

  /** Runs `work` in one IMMEDIATE transaction: all of it commits, or none of it does. */
  transaction<T>(work: () => T): T {
    this.sql.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      this.sql.exec("COMMIT");
      return result;
    } catch (error) {
      this.sql.exec("ROLLBACK");
      throw error;
    }
  }

  seal(plaintext: Uint8Array, context: string): Buffer {
    return seal(this.masterKey, plaintext, context);
  }

  open(sealed: Uint8Array, context: string): Buffer {
    return open(this.masterKey, sealed, context);
  }

  close(): void {
    if (this.sql.isOpen) this.sql.close();
  }
}

function migrate(sql: DatabaseSync): void {
  const { user_version: current } = sql.prepare("PRAGMA user_version").get() as { user_version: number };
  if (current > MIGRATIONS.length) {
    throw new Error(
      `the database schema (version ${current}) is newer than this secretgate understands (${MIGRATIONS.length})`,
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    sql.exec("BEGIN IMMEDIATE");
    try {
      sql.exec(MIGRATIONS[version]!);
      sql.exec(`PRAGMA user_version = ${version + 1}`);
      sql.exec("COMMIT");
    } catch (error) {
      sql.exec("ROLLBACK");
      throw error;
    }
  }
}
