import { readdirSync, statSync } from "node:fs";
import { mkdtempSync } from "node:fs";
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
    const server = await TestServer.start({ dataDir, adminToken: null, config: { secretgate: { audit: { file: auditFile } } } });
    servers.push(server);
    await server.client(undefined).read({ names: ["X"] }).catch(() => undefined);
    expect(readdirSync(dataDir).sort()).toEqual(["admin-token.sha256", "master.key", "secretgate.db", "secretgate.db-shm", "secretgate.db-wal"]);
    for (const file of readdirSync(dataDir)) expect([file, mode(join(dataDir, file))]).toEqual([file, "600"]);
    for (const dir of [join(root, "state"), dataDir, join(root, "logs")]) expect([dir, mode(dir)]).toEqual([dir, "700"]);
    expect(mode(auditFile)).toBe("600");
  });
});
