import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { redactTeamSettings } from "../../../src/core/team-settings.js";
import { LocalDriver } from "../../../src/providers/local/driver.js";
import { SecretDatabase } from "../../../src/storage/database.js";
import { MasterKeyError, parseMasterKey } from "../../../src/storage/master-key.js";
import { open, SealError, seal, toKeyObject } from "../../../src/storage/sealing.js";
import { SqliteTeamSettingsStore } from "../../../src/storage/team-settings-store.js";

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "secretgate-unit-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("sealing", () => {
  const key = toKeyObject(randomBytes(32));

  it("opens what it sealed, with a fresh nonce each time", () => {
    const first = seal(key, Buffer.from("sk-abc"), "secret:1:A");
    const second = seal(key, Buffer.from("sk-abc"), "secret:1:A");
    expect(first.equals(second)).toBe(false);
    expect(open(key, first, "secret:1:A").toString()).toBe("sk-abc");
    expect(first.includes(Buffer.from("sk-abc"))).toBe(false);
  });

  it("refuses another context (a value moved to another name or version)", () => {
    const sealed = seal(key, Buffer.from("v"), "secret:1:A");
    expect(() => open(key, sealed, "secret:1:B")).toThrow(SealError);
    expect(() => open(key, sealed, "secret:2:A")).toThrow(SealError);
  });

  it("refuses another key and tampered bytes", () => {
    const sealed = seal(key, Buffer.from("v"), "c");
    expect(() => open(toKeyObject(randomBytes(32)), sealed, "c")).toThrow(SealError);
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1]! ^= 1;
    expect(() => open(key, tampered, "c")).toThrow(SealError);
  });
});

describe("master key", () => {
  it("accepts base64 and hex, refuses anything else", () => {
    const raw = randomBytes(32);
    expect(() => parseMasterKey(raw.toString("base64"), "X")).not.toThrow();
    expect(() => parseMasterKey(raw.toString("hex"), "X")).not.toThrow();
    expect(() => parseMasterKey("too-short", "SECRETGATE_MASTER_KEY")).toThrow(MasterKeyError);
    expect(() => parseMasterKey(randomBytes(16).toString("base64"), "SECRETGATE_MASTER_KEY")).toThrow("32 bytes");
  });

  it("generates a key file with mode 0600 on a fresh data directory and reuses it", () => {
    const dataDir = tempDir();
    const first = SecretDatabase.open({ dataDir, masterKeyEnv: undefined });
    expect(first.generatedKeyFile).toBe(join(dataDir, "master.key"));
    expect(statSync(join(dataDir, "master.key")).mode & 0o777).toBe(0o600);
    new LocalDriver(first.database).write({ name: "A", value: { text: "secret-a" }, tags: {} });
    first.database.close();
    const second = SecretDatabase.open({ dataDir, masterKeyEnv: undefined });
    expect(second.generatedKeyFile).toBeUndefined();
    second.database.close();
  });

  it("refuses a data directory whose key file is gone rather than making a new key", () => {
    const dataDir = tempDir();
    SecretDatabase.open({ dataDir, masterKeyEnv: undefined }).database.close();
    rmSync(join(dataDir, "master.key"));
    expect(() => SecretDatabase.open({ dataDir, masterKeyEnv: undefined })).toThrow("holds sealed data");
  });

  it("refuses a key file other users can read", () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, "master.key"), randomBytes(32).toString("base64"), { mode: 0o644 });
    expect(() => SecretDatabase.open({ dataDir, masterKeyEnv: undefined })).toThrow("chmod 600");
  });
});

describe("team settings store", () => {
  it("seals settings at rest", async () => {
    const dataDir = tempDir();
    const { database } = SecretDatabase.open({ dataDir, masterKeyEnv: randomBytes(32).toString("hex") });
    const store = new SqliteTeamSettingsStore(database);
    await store.set("team-1", { prefix: "p/", api_token: "very-secret-token" });
    expect((await store.get("team-1"))?.settings).toEqual({ prefix: "p/", api_token: "very-secret-token" });
    const row = database.sql.prepare("SELECT sealed FROM team_settings").get() as { sealed: Uint8Array };
    expect(Buffer.from(row.sealed).includes(Buffer.from("very-secret-token"))).toBe(false);
    await store.clear("team-1");
    expect(await store.get("team-1")).toBeUndefined();
    database.close();
  });

  it("redacts credential-like keys, nested too", () => {
    expect(
      redactTeamSettings({ prefix: "p/", client_secret: "s", nested: { password: "x", region: "eu" }, role: "r" }, [
        "role",
      ]),
    ).toEqual({
      prefix: "p/",
      client_secret: "[redacted]",
      nested: { password: "[redacted]", region: "eu" },
      role: "[redacted]",
    });
  });
});
