import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ReadRequestSchema, RotateRequestSchema } from "../../../gen/secretgate/v1/secret_service_pb.js";
import { Identity } from "../../../src/auth/identity.js";
import { Backend, Backends } from "../../../src/core/backends.js";
import { CachedDriver } from "../../../src/core/cached-driver.js";
import type { AuthorizedCall } from "../../../src/core/call-context.js";
import { Code, type ServiceError } from "../../../src/core/errors.js";
import { SecretService } from "../../../src/core/secret-service.js";
import { LocalDriver } from "../../../src/providers/local/driver.js";
import { SecretDatabase } from "../../../src/storage/database.js";
import { SqliteTeamSettingsStore } from "../../../src/storage/team-settings-store.js";
import { parseConfig } from "../../helpers/config.js";
import { InjectedFault, InstrumentedDriver } from "../../helpers/instrumented-driver.js";
import { serviceFailure } from "../../helpers/service-failure.js";

const logger = pino({ level: "silent" });
const caller: AuthorizedCall = {
  peer: "unit",
  protocol: "grpc",
  credentials: {},
  identity: Identity.unrestricted("unit-test"),
};

const OLD_VALUE = "sk-rotate-old-value";
const NEW_VALUE = "sk-rotate-new-value";
const OTHER_WRITERS_VALUE = "sk-concurrent-writer";
const EARLIER_VALUE = "sk-held-before-rotate";

let dataDir: string;
let database: SecretDatabase;
let store: LocalDriver;
let driver: InstrumentedDriver;
let service: SecretService;

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "secretgate-rotate-"));
  database = SecretDatabase.open({ dataDir, masterKeyEnv: undefined }).database;
  store = new LocalDriver(database);
  await serveThrough(new InstrumentedDriver(store));
  await put("CURRENT", OLD_VALUE);
});
afterEach(() => {
  database.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Points the service at `instrumented` (the embedded store, saying what it can do). */
async function serveThrough(instrumented: InstrumentedDriver): Promise<void> {
  driver = instrumented;
  const backend = new CachedDriver(
    driver,
    driver.capabilities,
    "local",
    {
      ttlMs: 60_000,
      negativeTtlMs: 5_000,
      maxStalenessMs: 0,
      refreshAheadFraction: 0.1,
      bypassCache: false,
      maxEntries: 100,
      maxBytes: 1024 * 1024,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      retryBudgetRatio: 1,
      maxConcurrentCalls: 8,
      breakerFailureThreshold: 100,
      breakerOpenMs: 1_000,
    },
    logger,
  );
  const config = await parseConfig({}, {});
  const backends = new Backends(
    [new Backend(config.backends[0]!, backend, { reachable: true }, {})],
    config.defaultBackend,
    [],
  );
  service = new SecretService({ config, backends, teams: new SqliteTeamSettingsStore(database), env: {}, logger });
}

const put = (name: string, text: string) => store.write({ name, value: { text }, tags: {} });
const rotateToNew = () =>
  service.rotate(create(RotateRequestSchema, { currentName: "CURRENT", newName: "NEW", value: NEW_VALUE }), caller);

async function refusal(pending: Promise<unknown>): Promise<ServiceError> {
  const failure = await serviceFailure(pending);
  for (const value of [OLD_VALUE, NEW_VALUE, OTHER_WRITERS_VALUE, EARLIER_VALUE])
    expect(failure.message).not.toContain(value);
  return failure;
}

/** Acts once, when the read-back of NEW reaches the back end (the second read Rotate makes). */
function atReadBack(act: () => Promise<unknown> | unknown): void {
  driver.intercept = async (operation, name) => {
    if (operation !== "read" || name !== "NEW") return;
    driver.intercept = undefined;
    await act();
  };
}

describe("Rotate to a new name whose read-back does not show the new value", () => {
  it.each([
    ["finds nothing (a lagging replica)", async () => ({ answer: undefined })],
    [
      "shows this Rotate's version with other bytes",
      async () => ({ answer: { text: "garbled", version: (await store.read("NEW"))!.version } }),
    ],
  ])(
    "takes back the one version it wrote when the read-back %s, and leaves the current name",
    async (_case, answer) => {
      driver.intercept = async (operation, name) => {
        if (operation !== "read" || name !== "NEW") return;
        driver.intercept = undefined;
        return answer();
      };
      const failure = await refusal(rotateToNew());
      expect(failure.code).toBe(Code.Aborted);
      expect(driver.deletes).toEqual([]);
      expect(driver.removedVersions).toEqual([{ name: "NEW", version: "1" }]);
      expect(await store.read("NEW")).toBeUndefined();
      expect(await store.read("CURRENT")).toMatchObject({ text: OLD_VALUE });
      expect(failure.message).toContain('"NEW"');
      expect(failure.message).toContain("destroyed the version it wrote (1), and no other");
      expect(failure.message).toContain('"CURRENT" is unchanged');
    },
  );

  it("never removes another writer's value that lands while the read-back lags (issue 26)", async () => {
    driver.intercept = async (operation, name) => {
      if (operation !== "read" || name !== "NEW") return;
      driver.intercept = undefined;
      await put("NEW", OTHER_WRITERS_VALUE);
      return { answer: undefined };
    };
    const failure = await refusal(rotateToNew());
    expect(failure.code).toBe(Code.Aborted);
    expect(await store.read("NEW")).toMatchObject({ text: OTHER_WRITERS_VALUE });
    expect(await store.read("CURRENT")).toMatchObject({ text: OLD_VALUE });
    expect(failure.message).toContain('"NEW"');
    expect(failure.message).toContain('"CURRENT" is unchanged');
  });

  it("leaves a name that held a secret before the Rotate, answering ABORTED that names the conflict", async () => {
    await put("NEW", EARLIER_VALUE);
    atReadBack(() => put("NEW", OTHER_WRITERS_VALUE));
    const failure = await refusal(rotateToNew());
    expect(failure.code).toBe(Code.Aborted);
    expect(driver.deletes).toEqual([]);
    expect(await store.read("NEW")).toMatchObject({ text: OTHER_WRITERS_VALUE });
    expect(await store.read("CURRENT")).toMatchObject({ text: OLD_VALUE });
    expect(failure.message).toContain('"NEW" already held a secret');
    expect(failure.message).toContain("left as it is");
    expect(failure.message).toContain('"CURRENT" is unchanged');
  });

  it("leaves a name it created once another writer's version landed on it", async () => {
    atReadBack(() => put("NEW", OTHER_WRITERS_VALUE));
    const failure = await refusal(rotateToNew());
    expect(failure.code).toBe(Code.Aborted);
    expect(driver.deletes).toEqual([]);
    expect(await store.read("NEW")).toMatchObject({ text: OTHER_WRITERS_VALUE });
    expect(await store.read("CURRENT")).toMatchObject({ text: OLD_VALUE });
    expect(failure.message).toContain("another writer");
    expect(failure.message).toContain("left as it is");
  });

  it("leaves the name holding its value on a back end that cannot remove one version, saying so", async () => {
    const { versionRemoval: _none, ...withoutRemoval } = driver.capabilities;
    await serveThrough(new InstrumentedDriver(store, withoutRemoval));
    driver.intercept = (operation, name) => {
      if (operation !== "read" || name !== "NEW") return;
      driver.intercept = undefined;
      return { answer: undefined };
    };
    const failure = await refusal(rotateToNew());
    expect(failure.code).toBe(Code.Aborted);
    expect(driver.deletes).toEqual([]);
    expect(driver.calls.removeWrittenVersion).toBe(0);
    expect(await store.read("NEW")).toMatchObject({ text: NEW_VALUE });
    expect(await store.read("CURRENT")).toMatchObject({ text: OLD_VALUE });
    // The lagging read-back's "not found" is not cached: a Read finds what the name holds.
    const { results } = await service.read(create(ReadRequestSchema, { names: ["NEW"] }), caller);
    expect(results[0]).toMatchObject({ found: true, value: NEW_VALUE, fromCache: false });
    expect(failure.message).toContain("local cannot remove one version of a secret");
    expect(failure.message).toContain('"NEW" was left as it is, holding the version this Rotate wrote (1)');
    expect(failure.message).toContain('"CURRENT" is unchanged');
  });

  it("leaves the name when the version it wrote is gone by the time it is taken back (deleted, the name written again)", async () => {
    driver.intercept = async (operation, name) => {
      if (operation === "read" && name === "NEW") return { answer: undefined };
      if (operation === "removeWrittenVersion") {
        await store.delete("NEW");
        await put("NEW", OTHER_WRITERS_VALUE);
      }
    };
    const failure = await refusal(rotateToNew());
    expect(failure.code).toBe(Code.Aborted);
    expect(await store.read("NEW")).toMatchObject({ text: OTHER_WRITERS_VALUE });
    expect(failure.message).toContain("no longer holds the version it wrote (1) as written");
    expect(failure.message).toContain("left as it is");
  });

  it("says so when taking back the version it wrote fails, still ABORTED, the current name untouched", async () => {
    driver.intercept = async (operation, name) => {
      if (operation === "read" && name === "NEW") return { answer: undefined };
      if (operation === "removeWrittenVersion") throw new InjectedFault(Code.PermissionDenied);
    };
    const failure = await refusal(rotateToNew());
    expect(failure.code).toBe(Code.Aborted);
    expect(driver.deletes).toEqual([]);
    expect(driver.removedVersions).toEqual([{ name: "NEW", version: "1" }]);
    expect(await store.read("NEW")).toMatchObject({ text: NEW_VALUE });
    expect(await store.read("CURRENT")).toMatchObject({ text: OLD_VALUE });
    expect(failure.message).toContain("could not be removed");
    expect(failure.message).toContain('"CURRENT" is unchanged');
  });

  it("moves the value and deletes the old name when the read-back matches", async () => {
    const rotated = await rotateToNew();
    expect(rotated).toMatchObject({ name: "NEW", oldDeleted: true });
    expect(driver.deletes).toEqual([{ name: "CURRENT", force: false }]);
    expect(await store.read("NEW")).toMatchObject({ text: NEW_VALUE, version: rotated.version });
  });
});
