import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Code, ServiceError } from "../../../src/core/errors.js";
import type { DriverCall } from "../../../src/drivers/driver.js";
import { resolveAwsConnection } from "../../../src/providers/aws-common/aws-settings.js";
import { AWS_MAX_ATTEMPTS } from "../../../src/providers/aws-common/sdk-options.js";
import { SecretsManagerDriver } from "../../../src/providers/aws-secrets-manager/driver.js";
import { type AwsEmulatorHandle, emulatorEnv, startEmulator } from "../../emulators/aws-common/endpoint.js";
import { admin, emulatorCalls, resetEmulator } from "../../helpers/aws-emulator-admin.js";
import { freePort } from "../../helpers/free-port.js";

let emulator: AwsEmulatorHandle;
let driver: SecretsManagerDriver;
const call = (timeoutMs = 10_000, team: Record<string, unknown> = {}): DriverCall => ({
  team,
  signal: AbortSignal.timeout(timeoutMs),
});
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as ServiceError,
  );

beforeAll(async () => {
  emulator = await startEmulator();
  driver = new SecretsManagerDriver({
    connection: resolveAwsConnection({}, emulatorEnv(emulator.endpoint), "SECRETS_MANAGER"),
  });
  await driver.write({ name: "fault/target", value: { text: "sk-fault" }, tags: {} }, call());
});
afterEach(() => resetEmulator(emulator.endpoint));
afterAll(async () => {
  await driver.close();
  await emulator.close();
});

describe("aws_secret_manager under faults", () => {
  it("ends a throttling storm in RESOURCE_EXHAUSTED after a bounded number of calls", async () => {
    await resetEmulator(emulator.endpoint);
    await admin(emulator.endpoint, "faults", { rules: [{ kind: "throttle", operation: "GetSecretValue" }] });
    const error = await failure(driver.read("fault/target", call()));
    expect(error).toBeInstanceOf(ServiceError);
    expect(error!.code).toBe(Code.ResourceExhausted);
    expect(error!.message).toContain("fault/target");
    expect((await emulatorCalls(emulator.endpoint)).counts.GetSecretValue).toBe(AWS_MAX_ATTEMPTS);
  });

  it("rides out a short throttling burst within the same bound", async () => {
    await resetEmulator(emulator.endpoint);
    await admin(emulator.endpoint, "faults", {
      rules: [{ kind: "throttle", operation: "GetSecretValue", times: AWS_MAX_ATTEMPTS - 1 }],
    });
    expect((await driver.read("fault/target", call()))?.text).toBe("sk-fault");
    expect((await emulatorCalls(emulator.endpoint)).counts.GetSecretValue).toBe(AWS_MAX_ATTEMPTS);
  });

  it("retries a server error and a dropped connection, then succeeds", async () => {
    await resetEmulator(emulator.endpoint);
    await admin(emulator.endpoint, "faults", {
      rules: [
        { kind: "error", status: 500, operation: "GetSecretValue", times: 1 },
        { kind: "drop", operation: "DescribeSecret", times: 1 },
      ],
    });
    expect((await driver.read("fault/target", call()))?.text).toBe("sk-fault");
    expect(await driver.currentVersion("fault/target", call())).toMatch(/[0-9a-f-]{36}/);
    const { counts } = await emulatorCalls(emulator.endpoint);
    expect(counts).toMatchObject({ GetSecretValue: 2, DescribeSecret: 2 });
  });

  it("reports persistent server errors and dropped connections as UNAVAILABLE", async () => {
    await admin(emulator.endpoint, "faults", {
      rules: [
        { kind: "error", status: 503, operation: "GetSecretValue" },
        { kind: "drop", operation: "PutSecretValue" },
      ],
    });
    expect((await failure(driver.read("fault/target", call())))!.code).toBe(Code.Unavailable);
    const dropped = await failure(driver.write({ name: "fault/target", value: { text: "new" }, tags: {} }, call()));
    expect(dropped!.code).toBe(Code.Unavailable);
    expect((await emulatorCalls(emulator.endpoint)).counts.PutSecretValue).toBe(AWS_MAX_ATTEMPTS);
  });

  it("gives up at the caller's deadline when AWS stalls", async () => {
    await admin(emulator.endpoint, "faults", {
      rules: [{ kind: "latency", latencyMs: 5_000, operation: "GetSecretValue" }],
    });
    const error = await failure(driver.read("fault/target", call(200)));
    expect(error!.code).toBe(Code.DeadlineExceeded);
  });

  it("reports an unreachable endpoint as UNAVAILABLE, not a hang", async () => {
    const port = await freePort();
    const unreachable = new SecretsManagerDriver({
      connection: resolveAwsConnection({}, emulatorEnv(`http://127.0.0.1:${port}`), "SECRETS_MANAGER"),
    });
    const error = await failure(unreachable.read("anything", call(8_000)));
    expect(error!.code).toBe(Code.Unavailable);
    expect(error!.message).toContain("ECONNREFUSED");
    await unreachable.close();
  });

  it("refuses names AWS would reject before any network call", async () => {
    await resetEmulator(emulator.endpoint);
    for (const name of ["has space", "ключ", "x".repeat(513), "colon:name"]) {
      expect((await failure(driver.write({ name, value: { text: "v" }, tags: {} }, call())))!.code).toBe(
        Code.InvalidArgument,
      );
      expect((await failure(driver.read(name, call())))!.code).toBe(Code.InvalidArgument);
    }
    expect((await emulatorCalls(emulator.endpoint)).calls).toEqual([]);
  });
});
