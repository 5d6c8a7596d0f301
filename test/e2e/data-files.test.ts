import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TestServer } from "../helpers/server.js";

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

describe("what a start creates", () => {
  it("makes the data directory 0700 and every file in it 0600, the audit file and its directory too", async () => {
    const root = mkdtempSync(join(tmpdir(), "secretgate-files-"));
    const dataDir = join(root, "state", "data");
    const auditFile = join(root, "logs", "audit.log");
    const server = await TestServer.start({
      dataDir,
      adminToken: null,
      config: { secretgate: { audit: { file: auditFile } } },
    });
    servers.push(server);
    await server
      .client(undefined)
      .read({ names: ["X"] })
      .catch(() => undefined);
    expect(readdirSync(dataDir).sort()).toEqual([
      "admin-token.sha256",
      "master.key",
      "secretgate.db",
      "secretgate.db-shm",
      "secretgate.db-wal",
    ]);
    for (const file of readdirSync(dataDir)) expect([file, mode(join(dataDir, file))]).toEqual([file, "600"]);
    for (const dir of [join(root, "state"), dataDir, join(root, "logs")])
      expect([dir, mode(dir)]).toEqual([dir, "700"]);
    expect(mode(auditFile)).toBe("600");
  });
});

describe("a start that fails", () => {
  // A back end whose required setting is missing fails after the data directory was prepared
  // and the audit file opened: the worst place to stop.
  const refused = { general_settings: { key_management_system: "azure_key_vault" } };

  function expectSaysWhy(failure: { code: number | null; stderr: string }, reason: string): void {
    expect(failure.code).toBe(2);
    expect(failure.stderr).toContain(`secretgate: ${reason}`);
    expect(failure.stderr).not.toMatch(/\n\s+at /);
  }

  it("with audit.file: says why (exit 2) and removes the data directory, the audit file and the directories it made", async () => {
    const root = mkdtempSync(join(tmpdir(), "secretgate-refused-"));
    const failure = await TestServer.startExpectingFailure({
      dataDir: join(root, "state", "data"),
      adminToken: null,
      config: { ...refused, secretgate: { audit: { file: join(root, "logs", "audit.log") } } },
    });
    expectSaysWhy(failure, "AZURE_KEY_VAULT_URI");
    expect(readdirSync(root)).toEqual([]);
  });

  it("without audit.file: the same, and a data directory that existed stays, emptied of what the start made", async () => {
    const root = mkdtempSync(join(tmpdir(), "secretgate-refused-"));
    expectSaysWhy(
      await TestServer.startExpectingFailure({ dataDir: join(root, "data"), adminToken: null, config: refused }),
      "AZURE_KEY_VAULT_URI",
    );
    expect(readdirSync(root)).toEqual([]);
    const existing = mkdtempSync(join(tmpdir(), "secretgate-refused-"));
    expectSaysWhy(
      await TestServer.startExpectingFailure({ dataDir: existing, adminToken: null, config: refused }),
      "AZURE_KEY_VAULT_URI",
    );
    expect(readdirSync(existing)).toEqual([]);
  });

  it("removes an audit file it made inside the data directory it made", async () => {
    const root = mkdtempSync(join(tmpdir(), "secretgate-refused-"));
    const failure = await TestServer.startExpectingFailure({
      dataDir: join(root, "data"),
      config: { ...refused, secretgate: { audit: { file: join(root, "data", "audit.log") } } },
    });
    expectSaysWhy(failure, "AZURE_KEY_VAULT_URI");
    expect(readdirSync(root)).toEqual([]);
  });

  it("leaves an audit file that was there before, with what it held", async () => {
    const root = mkdtempSync(join(tmpdir(), "secretgate-refused-"));
    const auditFile = join(root, "audit.log");
    writeFileSync(auditFile, '{"earlier":"record"}\n');
    const failure = await TestServer.startExpectingFailure({
      dataDir: join(root, "data"),
      config: { ...refused, secretgate: { audit: { file: auditFile } } },
    });
    expectSaysWhy(failure, "AZURE_KEY_VAULT_URI");
    expect(readdirSync(root)).toEqual(["audit.log"]);
    expect(readFileSync(auditFile, "utf8")).toBe('{"earlier":"record"}\n');
  });

  it("names secretgate.audit.file when it cannot be opened, and removes what it made before", async () => {
    const root = mkdtempSync(join(tmpdir(), "secretgate-refused-"));
    const notAFile = join(root, "audit.log");
    mkdirSync(notAFile);
    const failure = await TestServer.startExpectingFailure({
      dataDir: join(root, "data"),
      config: { secretgate: { audit: { file: notAFile } } },
    });
    expectSaysWhy(failure, "secretgate.audit.file: cannot open");
    expect(readdirSync(root)).toEqual(["audit.log"]);
    expect(existsSync(join(root, "data"))).toBe(false);
  });
});
