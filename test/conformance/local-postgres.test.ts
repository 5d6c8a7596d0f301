import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { LocalDriver } from "../../src/providers/local/driver.js";
import { definition as local } from "../../src/providers/local/index.js";
import { PostgresSecretRows } from "../../src/providers/local/postgres-secret-rows.js";
import { SecretDatabase } from "../../src/storage/database.js";
import { PostgresDatabase } from "../../src/storage/postgres/postgres-database.js";
import { PostgresServer } from "../helpers/postgres-server.js";
import { runDriverConformance } from "./driver-suite.js";

let dataDir: string;
let database: SecretDatabase | undefined;
let server: PostgresServer | undefined;
let shared: PostgresDatabase | undefined;

// The embedded store as replicas run it: its rows in the PostgreSQL database they share.
runDriverConformance("local (PostgreSQL rows)", {
  capabilities: local.capabilities,
  makeDriver: async () => {
    dataDir = mkdtempSync(join(tmpdir(), "secretgate-conformance-pg-"));
    database = SecretDatabase.open({ dataDir, masterKeyEnv: undefined }).database;
    server = await PostgresServer.start();
    shared = await PostgresDatabase.open({
      url: server.url,
      sealer: database,
      logger: pino({ level: "silent" }),
      applicationName: "conformance",
    });
    return new LocalDriver(database, new PostgresSecretRows(shared));
  },
  close: async () => {
    await shared?.close();
    await server?.stop();
    database?.close();
    rmSync(dataDir, { recursive: true, force: true });
  },
  unicodeNames: true,
  slashNames: true,
  // The values go at once; only the version counter stays.
  recoverableDelete: false,
  // Both on the secret's row, set by every write.
  metadata: { description: "replaced", tags: "replaced" },
  // One transaction (the row locked) drops the version: version numbers are never reused.
  versionRemoval: "destroy",
});
