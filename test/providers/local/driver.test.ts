import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Code } from "../../../src/core/errors.js";
import { createDriver, LocalDriver } from "../../../src/providers/local/driver.js";
import { definition as local } from "../../../src/providers/local/index.js";
import { SecretDatabase } from "../../../src/storage/database.js";

// The embedded store's own tests; what every driver does is the conformance suite's
// (test/conformance/local.test.ts on SQLite, local-postgres.test.ts on PostgreSQL).

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "secretgate-local-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("the embedded store's definition", () => {
  it("accepts a team's prefix, description and tags, and nothing else", () => {
    expect(local.teamSettings.safeParse({ prefix: "team-a/", description: "d", tags: { owner: "a" } }).success).toBe(
      true,
    );
    expect(local.teamSettings.safeParse({ vault_uri: "https://x" }).success).toBe(false);
  });

  it("creates a driver on the service's own database, which it reads back what it wrote from", async () => {
    const { database } = SecretDatabase.open({ dataDir: tempDir(), masterKeyEnv: randomBytes(32).toString("hex") });
    const driver = await createDriver({
      database,
      settings: {} as never,
      env: {},
      ciphertextEnv: {},
      logger: undefined as never,
    });
    await driver.write(
      { name: "A", value: { text: "secret-a" }, tags: {} },
      { team: {}, signal: AbortSignal.timeout(5_000) },
    );
    expect(await driver.read("A", { team: {}, signal: AbortSignal.timeout(5_000) })).toMatchObject({
      text: "secret-a",
      version: "1",
    });
    database.close();
  });
});

describe("the embedded store's metadata", () => {
  it("refuses stored tags that are not an object of strings with a classified error, not a crash", async () => {
    const { database } = SecretDatabase.open({ dataDir: tempDir(), masterKeyEnv: randomBytes(32).toString("hex") });
    const driver = new LocalDriver(database);
    await driver.write({ name: "tagged", value: { text: "sk-value" }, tags: { team: "a" } });
    for (const stored of ["not json", "[1]", '{"team": 1}', "null"]) {
      database.sql.prepare("UPDATE secrets SET tags = ? WHERE name = 'tagged'").run(stored);
      const failure = await driver.describe("tagged").then(
        () => undefined,
        (error: unknown) => driver.classifyError(error),
      );
      expect(failure, stored).toMatchObject({
        code: Code.Internal,
        message: expect.stringContaining("embedded store failed"),
      });
      expect(failure?.message).not.toContain("sk-value");
    }
    database.close();
  });
});
