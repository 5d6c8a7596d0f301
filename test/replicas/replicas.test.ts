import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS, migrate } from "../../src/storage/postgres/migrations.js";
import { eventually } from "../helpers/eventually.js";
import { PostgresServer } from "../helpers/postgres-server.js";
import { TestServer } from "../helpers/server.js";

const masterKey = randomBytes(32).toString("base64");
let postgres: PostgresServer;
let databaseUrl: string;
let a: TestServer;
let b: TestServer;

const readyStatus = async (server: TestServer) => (await fetch(`http://${server.httpAddress}/readyz`)).status;

beforeAll(async () => {
  postgres = await PostgresServer.start();
  databaseUrl = await postgres.createDatabase("replicas");
  // Both replicas start together on an empty database: the migration lock must serialise them.
  const env = { DATABASE_URL: databaseUrl, SECRETGATE_MASTER_KEY: masterKey };
  [a, b] = await Promise.all([TestServer.start({ env }), TestServer.start({ env })]);
});

afterAll(async () => {
  for (const server of [a, b]) {
    if (!server) continue;
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  await postgres?.stop();
});

describe("migrations", () => {
  it("apply once when several replicas migrate at the same moment", async () => {
    const url = await postgres.createDatabase("migration_race");
    const pools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: url, max: 1 }));
    try {
      const versions = await Promise.all(pools.map((pool) => migrate(pool)));
      expect(versions).toEqual(pools.map(() => MIGRATIONS.length));
      const rows = await pools[0]!.query("SELECT version FROM secretgate.schema_migrations ORDER BY version");
      expect(rows.rows.map((row) => row.version)).toEqual(MIGRATIONS.map((_, index) => index + 1));
      // Running again is a no-op.
      expect(await migrate(pools[0]!)).toBe(MIGRATIONS.length);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it("both replicas came up on the shared database and are ready", async () => {
    expect(a.logLines.some((line) => line.includes('"sharedDatabase":true'))).toBe(true);
    expect(await readyStatus(a)).toBe(200);
    const body = await (await fetch(`http://${b.httpAddress}/readyz`)).json();
    expect(body).toMatchObject({ status: "ready", database: "connected", backendReachable: true });
  });
});

describe("two replicas on one PostgreSQL", () => {
  it("keeps the embedded store's secrets in PostgreSQL, sealed", async () => {
    await a.grpc.write({ name: "SEALED_IN_PG", value: "plaintext-that-must-not-appear" });
    const rows = await postgres.query<{ sealed: Buffer }>(
      "SELECT v.sealed FROM secretgate.secret_versions v WHERE v.name = 'SEALED_IN_PG'",
      [],
      databaseUrl,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.sealed.includes(Buffer.from("plaintext-that-must-not-appear"))).toBe(false);
    // Not in the NOTIFY traffic or B's logs either: only names travel.
    expect((await b.grpc.read({ names: ["SEALED_IN_PG"] })).results[0]).toMatchObject({
      value: "plaintext-that-must-not-appear",
    });
    expect(b.allOutput()).not.toContain("plaintext-that-must-not-appear");
  });

  it("a write on A is read fresh on B (B had the old value cached)", async () => {
    await a.grpc.write({ name: "SHARED", value: "v1" });
    // A's notice may land while B reads, which keeps that answer out of B's cache: B may need another read.
    await eventually(async () => (await b.grpc.read({ names: ["SHARED"] })).results[0]!.fromCache, "B caches v1");
    expect((await b.grpc.read({ names: ["SHARED"] })).results[0]).toMatchObject({ value: "v1", fromCache: true });

    await a.grpc.write({ name: "SHARED", value: "v2" });
    await eventually(async () => (await b.grpc.read({ names: ["SHARED"] })).results[0]?.value === "v2", "B reads v2");

    await a.grpc.rotate({ currentName: "SHARED", value: "v3" });
    await eventually(
      async () => (await b.grpc.read({ names: ["SHARED"] })).results[0]?.value === "v3",
      "B reads the rotated value",
    );

    await a.grpc.delete({ name: "SHARED" });
    await eventually(
      async () => (await b.grpc.read({ names: ["SHARED"] })).results[0]?.found === false,
      "B sees the delete",
    );
  });

  it("team settings set on A are used by B, and team-scoped writes reach B's cache", async () => {
    const readOnB = async () =>
      (await b.grpc.read({ names: ["TEAM_KEY"], teamId: "team-1", virtualKey: true })).results[0]!;
    // B looks the team up first (no settings yet: the default virtual-key prefix), so it must learn of the change.
    expect((await readOnB()).resolvedName).toBe("litellm/TEAM_KEY");
    await a.grpc.setTeamSettings({ teamId: "team-1", settings: { prefix: "team1/" } });
    await eventually(async () => (await readOnB()).resolvedName === "team1/TEAM_KEY", "B applies team-1's prefix");
    expect(await b.grpc.getTeamSettings({ teamId: "team-1" })).toMatchObject({
      configured: true,
      settings: { prefix: "team1/" },
    });
    // ListTeams reads the shared database, not B's cache of it.
    expect((await b.admin.listTeams({})).teams.map((team) => [team.teamId, team.backend])).toContainEqual([
      "team-1",
      "local",
    ]);

    await a.grpc.write({ name: "TEAM_KEY", value: "t1", teamId: "team-1", virtualKey: true });
    await eventually(async () => (await readOnB()).value === "t1", "B reads t1");
    expect(await readOnB()).toMatchObject({ value: "t1", fromCache: true });
    await a.grpc.write({ name: "TEAM_KEY", value: "t2", teamId: "team-1", virtualKey: true });
    await eventually(async () => (await readOnB()).value === "t2", "B reads t2");
  });

  it("a replica whose database connection is killed drops its cache and recovers", async () => {
    await a.grpc.write({ name: "SURVIVES", value: "before" });
    await eventually(
      async () => (await b.grpc.read({ names: ["SURVIVES"] })).results[0]!.fromCache,
      "B caches the value",
    );

    const killed = await postgres.query<{ terminated: boolean }>(
      "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = $1",
      [`secretgate:${b.process.pid}`],
    );
    expect(killed.length).toBeGreaterThan(0);
    await eventually(
      async () => b.logLines.some((line) => line.includes("change-notice connection restored")),
      "B reconnects",
    );

    // Notices sent while B was away may be lost, so nothing it had cached is trusted.
    expect((await b.grpc.read({ names: ["SURVIVES"] })).results[0]).toMatchObject({
      value: "before",
      fromCache: false,
    });
    await a.grpc.write({ name: "SURVIVES", value: "after" });
    await eventually(
      async () => (await b.grpc.read({ names: ["SURVIVES"] })).results[0]?.value === "after",
      "B reads after",
    );
    expect(await readyStatus(b)).toBe(200);
  });

  it("refuses to start a replica with a different master key", async () => {
    const result = await TestServer.startExpectingFailure({
      env: { DATABASE_URL: databaseUrl, SECRETGATE_MASTER_KEY: randomBytes(32).toString("base64") },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("every replica needs the same SECRETGATE_MASTER_KEY");
  });

  it("refuses to start without a reachable database, naming it but not its password", async () => {
    const unreachable = await TestServer.startExpectingFailure({
      env: {
        DATABASE_URL: "postgres://secretgate:pw-not-to-print@127.0.0.1:1/secretgate",
        SECRETGATE_MASTER_KEY: masterKey,
      },
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain("cannot open the PostgreSQL database (DATABASE_URL)");
    expect(unreachable.stderr).not.toContain("pw-not-to-print");

    const wrongScheme = await TestServer.startExpectingFailure({
      env: { DATABASE_URL: "mysql://root:pw-not-to-print@db/x" },
    });
    expect(wrongScheme.code).toBe(2);
    expect(wrongScheme.stderr).toContain("secretgate.database_url: must be a postgres:// or postgresql:// URL");
    expect(wrongScheme.stderr).not.toContain("pw-not-to-print");
  });

  it("stays ready while the database is down, saying so; the strict variant is not ready", async () => {
    await postgres.stop();
    await eventually(
      async () =>
        ((await (await fetch(`http://${b.httpAddress}/readyz`)).json()) as { database?: string }).database ===
        "unreachable",
      "B notices",
    );
    const response = await fetch(`http://${b.httpAddress}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "ready", database: "unreachable", degraded: ["database"] });
    const strict = await fetch(`http://${b.httpAddress}/readyz?strict`);
    expect(strict.status).toBe(503);
    expect(await strict.json()).toMatchObject({ status: "not ready", strict: true, database: "unreachable" });
  });
});
