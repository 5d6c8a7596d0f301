import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretClient } from "../../clients/typescript/src/index.js";
import { startServerWithToken } from "../helpers/live-server.js";
import { run } from "../helpers/run-process.js";
import { ROOT, type TestServer } from "../helpers/server.js";

describe("Go client", () => {
  let server: TestServer;
  let token: string;
  let admin: SecretClient;
  const buildDir = mkdtempSync(join(tmpdir(), "secretgate-go-"));

  beforeAll(async () => {
    ({ server, token, admin } = await startServerWithToken());
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(buildDir, { recursive: true, force: true });
  });

  it("builds offline from Debian's Go packages, then asks who it is (AdminService), writes, reads, lists and deletes, sends team settings and checks health", async () => {
    // The first build compiles grpc-go from source; later runs hit Go's build cache.
    const build = await run(join(ROOT, "clients", "go", "scripts", "build-offline.sh"), [buildDir]);
    expect(build.code, build.stderr).toBe(0);

    const name = `go-${randomUUID().slice(0, 12)}`;
    const smoke = await run(join(buildDir, "smoke"), [name, "go-value"], {
      env: { SECRETGATE_ADDR: server.grpcAddress, SECRETGATE_TOKEN: token },
    });
    expect(smoke.code, smoke.stderr).toBe(0);
    expect(JSON.parse(smoke.stdout)).toEqual({
      identity: "admin",
      written: name,
      version: "1",
      readFound: true,
      readMatches: true,
      readSource: "local",
      listed: [name],
      deleted: name,
      readAfterDelete: "NOT_FOUND",
      deleteAgainError: "NotFound",
      teamSettingsWritten: `go-inline/${name}`,
      teamSettingsDeleted: `go-inline/${name}`,
      // CheckHealth: server, token and back end with the smoke's token; a token the server does not know fails the check.
      health: "ok/ok/ok",
      unknownTokenHealth: "ok/failed/not checked",
    });
    // What the Go client wrote was really on the server: the delete it made is visible to another client.
    const { results } = await admin.read({ names: [name] });
    expect(results[0]?.found).toBe(false);
  }, 300_000);
});
