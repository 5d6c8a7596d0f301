import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { CachedDriver } from "../../../src/core/cached-driver.js";
import { Code } from "../../../src/core/errors.js";
import type { DriverCall, SecretDriver, SecretValue } from "../../../src/drivers/driver.js";
import { cachedDriverSettings } from "../../helpers/cached-driver-settings.js";

const settings = cachedDriverSettings({
  maxStalenessMs: 0,
  refreshAheadFraction: 0,
  maxEntries: 100,
  maxBytes: 1024 * 1024,
  retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
  retryBudgetRatio: 0,
  maxConcurrentCalls: 8,
  breakerOpenMs: 1_000,
});

/** A back end whose reads wait until the test releases them, so a change can land mid-read. */
class GatedDriver implements SecretDriver {
  readonly capabilities = { write: true, binary: false, list: false };
  value = "old";
  reads = 0;
  private release: (() => void) | undefined;

  async read(): Promise<SecretValue> {
    this.reads++;
    const answer = this.value;
    await new Promise<void>((resolve) => (this.release = resolve));
    return { text: answer, version: answer };
  }
  async write() {
    return { version: this.value, created: false };
  }
  async delete() {
    return undefined;
  }
  releaseRead(): void {
    this.release?.();
  }
  classifyError() {
    return { code: Code.Internal, message: "failed" };
  }
  async close() {}
}

/** A back end whose `namespace` team setting chooses where a secret lives ("" is the configured one). */
class LocatedDriver implements SecretDriver {
  readonly capabilities = { write: true, binary: false, list: false };
  reads = 0;
  async read(_name: string, driverCall: DriverCall): Promise<SecretValue> {
    this.reads++;
    return { text: String(driverCall.team.namespace ?? ""), version: "1" };
  }
  async write() {
    return { version: "1", created: false };
  }
  async delete() {
    return undefined;
  }
  locationKey(team: Readonly<Record<string, unknown>>): string {
    return String(team.namespace ?? "");
  }
  classifyError() {
    return { code: Code.Internal, message: "failed" };
  }
  async close() {}
}

const call = (): DriverCall => ({ team: {}, teamId: "", signal: AbortSignal.timeout(5_000) });

describe("eviction while a read is under way", () => {
  it("a change notice during a back-end read keeps that read's (possibly old) answer out of the cache", async () => {
    const driver = new GatedDriver();
    const backend = new CachedDriver(driver, driver.capabilities, "gated", settings, pino({ level: "silent" }));
    const reading = backend.read("KEY", call(), { bypassCache: false });
    await new Promise((resolve) => setImmediate(resolve));
    // Another replica writes "new" and says so while this replica's read is still out.
    driver.value = "new";
    backend.invalidate("KEY", "");
    driver.releaseRead();
    expect((await reading).value?.text).toBe("old");

    const next = backend.read("KEY", call(), { bypassCache: false });
    await new Promise((resolve) => setImmediate(resolve));
    driver.releaseRead();
    expect(await next).toMatchObject({ value: { text: "new" }, fromCache: false });
    expect(driver.reads).toBe(2);
    expect(await backend.read("KEY", call(), { bypassCache: false })).toMatchObject({
      value: { text: "new" },
      fromCache: true,
    });
  });

  it("tells the change listener about writes (with the version created) and deletes, with the call's team id and location", async () => {
    const backend = new CachedDriver(
      new GatedDriver(),
      new GatedDriver().capabilities,
      "gated",
      settings,
      pino({ level: "silent" }),
    );
    const changes: string[] = [];
    backend.onChange((name, location, changeCall, version) =>
      changes.push(`${changeCall.teamId}/${location}/${name}@${version ?? "-"}`),
    );
    await backend.write({ name: "A", value: { text: "x" }, tags: {} }, { ...call(), teamId: "team-1" });
    await backend.delete("B", false, call());
    expect(changes).toEqual(["team-1//A@old", "//B@-"]);
  });

  it("names a team's location by a digest that holds none of its settings, and evicts exactly that location's entry", async () => {
    const driver = new LocatedDriver();
    const backend = new CachedDriver(driver, driver.capabilities, "located", settings, pino({ level: "silent" }));
    const locations: string[] = [];
    backend.onChange((_name, location) => locations.push(location));
    const teamA = { namespace: "ns-a", credential: "ext-id-that-must-not-travel" };
    const teamB = { namespace: "ns-b" };
    for (const team of [teamA, teamB, {}])
      await backend.write({ name: "KEY", value: { text: "x" }, tags: {} }, { ...call(), team });
    const [a, b, none] = locations;
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect([b, none]).toEqual([backend.locationOf(teamB), ""]);
    expect(new Set(locations).size).toBe(3);
    expect(a).not.toContain("ns-a");
    // A team whose settings resolve to the configured location shares its entries.
    expect(backend.locationOf({ namespace: "" })).toBe("");

    for (const team of [teamA, teamB]) await backend.read("KEY", { ...call(), team }, { bypassCache: false });
    expect(driver.reads).toBe(2);
    backend.invalidate("KEY", a!);
    await backend.read("KEY", { ...call(), team: teamB }, { bypassCache: false });
    expect(driver.reads).toBe(2);
    await backend.read("KEY", { ...call(), team: teamA }, { bypassCache: false });
    expect(driver.reads).toBe(3);
  });

  it("a late notice for the version already cached keeps the entry; any other version, or none, evicts it", async () => {
    const driver = new GatedDriver();
    const backend = new CachedDriver(driver, driver.capabilities, "gated", settings, pino({ level: "silent" }));
    const readOnce = async () => {
      const reading = backend.read("KEY", call(), { bypassCache: false });
      await new Promise((resolve) => setImmediate(resolve));
      driver.releaseRead();
      return reading;
    };
    // This replica read the new value "old" before the notice of the write that made it arrived.
    expect(await readOnce()).toMatchObject({ fromCache: false });
    backend.invalidate("KEY", "", "old");
    expect(await backend.read("KEY", call(), { bypassCache: false })).toMatchObject({
      value: { text: "old" },
      fromCache: true,
    });
    expect(driver.reads).toBe(1);

    backend.invalidate("KEY", "", "newer");
    driver.value = "newer";
    expect(await readOnce()).toMatchObject({ value: { text: "newer" }, fromCache: false });

    backend.invalidate("KEY", "");
    expect(await readOnce()).toMatchObject({ fromCache: false });
    expect(driver.reads).toBe(3);
  });
});
