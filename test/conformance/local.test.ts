import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalDriver } from "../../src/providers/local/driver.js";
import { definition as local } from "../../src/providers/local/index.js";
import { SecretDatabase } from "../../src/storage/database.js";
import { runDriverConformance } from "./driver-suite.js";

let dataDir: string;
let database: SecretDatabase | undefined;

runDriverConformance("local", {
  capabilities: local.capabilities,
  makeDriver: async () => {
    dataDir = mkdtempSync(join(tmpdir(), "secretgate-conformance-"));
    database = SecretDatabase.open({ dataDir, masterKeyEnv: undefined }).database;
    return new LocalDriver(database);
  },
  close: async () => {
    database?.close();
    rmSync(dataDir, { recursive: true, force: true });
  },
  unicodeNames: true,
  // The values go at once; only the version counter stays.
  recoverableDelete: false,
  slashNames: true,
  // Both on the secret's row, set by every write.
  metadata: { description: "replaced", tags: "replaced" },
  // One transaction drops the version (the whole name while it is the current one): version numbers are never reused.
  versionRemoval: "destroy",
});
