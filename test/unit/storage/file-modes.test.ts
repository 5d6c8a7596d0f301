import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuditLog } from "../../../src/audit.js";
import { loadOrCreateAdminTokenHash } from "../../../src/auth/admin-token.js";
import { createLogDestination } from "../../../src/log.js";
import { LocalDriver } from "../../../src/providers/local/driver.js";
import { SecretDatabase } from "../../../src/storage/database.js";

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
const dirs: string[] = [];
let inherited: number;

afterEach(() => {
  process.umask(inherited);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A directory the test itself may write into, whatever the umask. */
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "secretgate-modes-"));
  chmodSync(dir, 0o700);
  dirs.push(dir);
  return dir;
}

// What the service creates must not depend on the umask it inherits: not on the most
// permissive one, nor on one that would take the owner's own write and search bits away.
describe.each(["000", "277"])("files the service creates, under umask %s", (umask) => {
  beforeEach(() => {
    inherited = process.umask(Number.parseInt(umask, 8));
  });

  it("makes the data directory (and missing parents) 0700, the database, its -wal and -shm and the master key 0600", () => {
    const root = scratch();
    const dataDir = join(root, "var", "lib", "data");
    const { database } = SecretDatabase.open({ dataDir, masterKeyEnv: undefined });
    try {
      new LocalDriver(database).write({ name: "A", value: { text: "secret-a" }, tags: {} });
      for (const dir of [join(root, "var"), join(root, "var", "lib"), dataDir]) expect(mode(dir)).toBe("700");
      for (const file of ["secretgate.db", "secretgate.db-wal", "secretgate.db-shm", "master.key"]) {
        expect(existsSync(join(dataDir, file))).toBe(true);
        expect(mode(join(dataDir, file))).toBe("600");
      }
    } finally {
      database.close();
    }
  });

  it("leaves an existing data directory's mode as the operator set it", () => {
    const dataDir = scratch();
    const before = mode(dataDir);
    SecretDatabase.open({ dataDir, masterKeyEnv: undefined }).database.close();
    expect(mode(dataDir)).toBe(before);
  });

  it("makes the admin token hash 0600", () => {
    const dataDir = scratch();
    loadOrCreateAdminTokenHash(dataDir, (token) => Buffer.from(token));
    expect(mode(join(dataDir, "admin-token.sha256"))).toBe("600");
  });

  it("makes the audit file 0600 and a directory made for it 0700", async () => {
    const file = join(scratch(), "audit", "audit.log");
    const audit = new AuditLog({ file, stdout: createLogDestination() });
    audit.write({ method: "Read" });
    await audit.close();
    expect(mode(file)).toBe("600");
    expect(mode(join(file, ".."))).toBe("700");
  });
});
