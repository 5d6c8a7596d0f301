import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code, ServiceError } from "../../../src/core/errors.js";
import type { DriverCall } from "../../../src/drivers/driver.js";
import { MAX_ATTEMPTS } from "../../../src/providers/google-common/calls.js";
import { SecretManagerDriver } from "../../../src/providers/google-secret-manager/driver.js";
import { resolveSecretManagerSettings } from "../../../src/providers/google-secret-manager/settings.js";
import { type SecretManagerEmulator, startEmulator } from "../../emulators/google-secret-manager/index.js";
import { freePort } from "../../helpers/free-port.js";

/** Faults injected by the emulator's admin API, through the real SDK on both transports. */
let emulator: SecretManagerEmulator;
const drivers: SecretManagerDriver[] = [];

const driverFor = (endpoint: string, transport: "grpc" | "rest") => {
  const driver = new SecretManagerDriver(
    resolveSecretManagerSettings(
      { store_virtual_keys: true, prefix_for_stored_virtual_keys: "" },
      {
        GOOGLE_SECRET_MANAGER_PROJECT_ID: "fault-project",
        GOOGLE_SECRET_MANAGER_ENDPOINT: endpoint,
        GOOGLE_SECRET_MANAGER_TRANSPORT: transport,
      },
    ),
  );
  drivers.push(driver);
  return driver;
};
const call = (ms = 10_000): DriverCall => ({ team: {}, signal: AbortSignal.timeout(ms), deadline: Date.now() + ms });
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );
const admin = (path: string, method: string, body?: unknown) =>
  fetch(`${emulator.adminUrl}/${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }).then(
    (response) => response.json() as Promise<Record<string, number>>,
  );

beforeAll(async () => {
  emulator = await startEmulator({ host: "127.0.0.1", port: 0 });
});
afterAll(async () => {
  for (const driver of drivers) await driver.close();
  await emulator?.close();
});
beforeEach(async () => {
  await admin("faults", "DELETE");
  await admin("calls", "DELETE");
});

for (const transport of ["grpc", "rest"] as const) {
  describe(`google_secret_manager faults over ${transport}`, () => {
    let driver: SecretManagerDriver;
    beforeAll(async () => {
      driver = driverFor(transport === "grpc" ? emulator.endpoint : emulator.restEndpoint, transport);
      await driver.write({ name: `stored-${transport}`, value: { text: "v" }, tags: {} }, call());
    });

    it("ends a throttling storm in RESOURCE_EXHAUSTED after a bounded number of calls", async () => {
      await admin("faults", "PUT", [{ operation: "AccessSecretVersion", kind: "throttle" }]);
      const error = await failure(driver.read(`stored-${transport}`, call()));
      expect(driver.classifyError(error)).toMatchObject({ code: Code.ResourceExhausted });
      expect(driver.classifyError(error).message).toContain("Quota exceeded");
      expect((await admin("calls", "GET")).AccessSecretVersion).toBe(MAX_ATTEMPTS);
    });

    it("rides out brief unavailability on reads", async () => {
      await admin("faults", "PUT", [
        { operation: "AccessSecretVersion", kind: "error", status: 14, times: MAX_ATTEMPTS - 1 },
      ]);
      expect(await driver.read(`stored-${transport}`, call())).toMatchObject({ text: "v" });
      expect((await admin("calls", "GET")).AccessSecretVersion).toBe(MAX_ATTEMPTS);
    });

    it("reports lasting unavailability as UNAVAILABLE after a bounded number of calls", async () => {
      await admin("faults", "PUT", [{ operation: "AccessSecretVersion", kind: "error", status: 14 }]);
      const error = await failure(driver.read(`stored-${transport}`, call()));
      expect(driver.classifyError(error).code).toBe(Code.Unavailable);
      expect((await admin("calls", "GET")).AccessSecretVersion).toBe(MAX_ATTEMPTS);
    });

    it("does not repeat a write that failed UNAVAILABLE (it may have landed), but retries a throttled one", async () => {
      await admin("faults", "PUT", [{ operation: "AddSecretVersion", kind: "error", status: 14 }]);
      const error = await failure(
        driver.write({ name: `stored-${transport}`, value: { text: "w" }, tags: {} }, call()),
      );
      expect(driver.classifyError(error).code).toBe(Code.Unavailable);
      expect((await admin("calls", "GET")).AddSecretVersion).toBe(1);

      await admin("faults", "PUT", [{ operation: "AddSecretVersion", kind: "throttle", times: 1 }]);
      await admin("calls", "DELETE");
      await driver.write({ name: `stored-${transport}`, value: { text: "w" }, tags: {} }, call());
      expect((await admin("calls", "GET")).AddSecretVersion).toBe(2);
    });

    it("gives up at the caller's deadline when the back end stalls", async () => {
      await admin("faults", "PUT", [{ operation: "AccessSecretVersion", kind: "latency", latencyMs: 5_000 }]);
      const error = await failure(driver.read(`stored-${transport}`, call(300)));
      expect((error as Error).name).toBe("TimeoutError");
    });
  });
}

describe("google_secret_manager with no back end listening", () => {
  let closedPort: number;
  beforeAll(async () => {
    closedPort = await freePort();
  });

  it("answers UNAVAILABLE, not a hang", async () => {
    const driver = driverFor(`127.0.0.1:${closedPort}`, "grpc");
    const error = await failure(driver.read("anything", call(8_000)));
    expect(error).not.toBeInstanceOf(ServiceError);
    expect(driver.classifyError(error).code).toBe(Code.Unavailable);
  });
});
