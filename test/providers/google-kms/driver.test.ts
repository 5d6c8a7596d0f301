import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code, ServiceError } from "../../../src/core/errors.js";
import type { DriverCall } from "../../../src/drivers/driver.js";
import { MAX_ATTEMPTS } from "../../../src/providers/google-common/calls.js";
import { GoogleKmsDriver } from "../../../src/providers/google-kms/driver.js";
import { encryptWithGoogleKms } from "../../../src/providers/google-kms/encryptor.js";
import { definition as googleKms } from "../../../src/providers/google-kms/index.js";
import { KmsCrypto } from "../../../src/providers/google-kms/kms-client.js";
import { DEFAULT_KEY, type KmsEmulator, startEmulator } from "../../emulators/google-kms/index.js";
import { SERVER_ENTRY } from "../../helpers/server.js";

/**
 * google_kms only decrypts values held in the environment, so the write-centric conformance
 * suite does not apply; these tests cover what it does, through the real SDK and the emulator.
 */
const OTHER_KEY = "projects/emulator-project/locations/global/keyRings/secretgate/cryptoKeys/other";

let emulator: KmsEmulator;
let crypto: KmsCrypto;
const call = (team: Record<string, unknown> = {}): DriverCall => ({
  team,
  signal: AbortSignal.timeout(10_000),
  deadline: Date.now() + 10_000,
});
const encrypt = (plaintext: string, key = DEFAULT_KEY) =>
  encryptWithGoogleKms(plaintext, { key, context: {}, env: { GOOGLE_KMS_ENDPOINT: emulator.endpoint } });
const driverWith = (env: Record<string, string>, options: ConstructorParameters<typeof GoogleKmsDriver>[3] = {}) =>
  new GoogleKmsDriver(crypto, DEFAULT_KEY, env, options);
/** A driver for names the operator lists in hosted_keys: errors say what is wrong with them. */
const listing = (env: Record<string, string>) => driverWith(env, { hostedKeys: Object.keys(env) });
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

beforeAll(async () => {
  emulator = await startEmulator({ host: "127.0.0.1", port: 0 });
  emulator.keys.create(OTHER_KEY);
  crypto = new KmsCrypto({
    transport: "grpc",
    endpoint: { host: "127.0.0.1", port: Number(emulator.endpoint.split(":")[1]) },
  });
});
afterAll(async () => {
  await crypto?.close();
  await emulator?.close();
});
beforeEach(() => {
  emulator.faults.clear();
  emulator.faults.resetCalls();
});

describe("google_kms driver", () => {
  it("decrypts the ciphertext in a name's environment variable, sending and checking CRC32C", async () => {
    const driver = driverWith({ OPENAI_API_KEY: await encrypt("sk-kms-secret ünïcode") });
    const value = await driver.read("OPENAI_API_KEY", call());
    expect(value?.text).toBe("sk-kms-secret ünïcode");
    expect(value?.version).toMatch(/^[0-9a-f]{16}$/);
    expect(googleKms.capabilities.write).toBe(false);
  });

  it("reports a name absent from the environment as missing without calling KMS", async () => {
    expect(await driverWith({}).read("NOT_SET", call())).toBeUndefined();
    for (const name of ["constructor", "__proto__", "toString"])
      expect(await driverWith({}).read(name, call())).toBeUndefined();
    expect(emulator.faults.calls().Decrypt).toBeUndefined();
  });

  it("refuses non-canonical base64 of a listed name before calling KMS, naming the variable", async () => {
    const ciphertext = await encrypt("value");
    for (const mangled of [
      `${ciphertext}\n`,
      ciphertext.replace(/=+$/, ""),
      `${ciphertext.replaceAll("+", "-").replaceAll("/", "_")}!`,
      "",
      "QUJDRA==",
    ]) {
      const error = await failure(listing({ MANGLED: mangled }).read("MANGLED", call()));
      expect(error).toBeInstanceOf(ServiceError);
      expect((error as ServiceError).code).toBe(Code.FailedPrecondition);
      expect((error as ServiceError).message).toContain("MANGLED");
    }
    expect(emulator.faults.calls().Decrypt).toBeUndefined();
  });

  it("uses a team's resource_name: ciphertext of another key does not decrypt", async () => {
    const driver = listing({ TEAM_KEY: await encrypt("team value", OTHER_KEY) });
    expect((await driver.read("TEAM_KEY", call({ resource_name: OTHER_KEY })))?.text).toBe("team value");
    const error = await failure(driver.read("TEAM_KEY", call()));
    expect(driver.classifyError(error).code).toBe(Code.InvalidArgument);
  });

  it("answers a name hosted_keys does not list like a missing one unless its variable holds ciphertext that decrypts", async () => {
    const warnings: unknown[] = [];
    const driver = driverWith(
      {
        PLAIN: "sk-plain text of the service",
        SHORT: "QUJDRA==",
        NOT_KMS: Buffer.alloc(96, 7).toString("base64"),
        OTHER_KEYS: await encrypt("sk-under-another-key", OTHER_KEY),
        DECRYPTS: await encrypt("sk-unlisted-but-decrypts"),
      },
      { hostedKeys: ["SOMETHING_ELSE"], logger: { warn: (...args: unknown[]) => warnings.push(args) } },
    );
    for (const name of ["ABSENT", "PLAIN", "SHORT", "NOT_KMS", "OTHER_KEYS"])
      expect(await driver.read(name, call()), name).toBeUndefined();
    expect(emulator.faults.calls().Decrypt).toBe(2);
    expect(JSON.stringify(warnings)).toContain("OTHER_KEYS");
    expect(JSON.stringify(warnings)).not.toContain("sk-under-another-key");
    expect((await driver.read("DECRYPTS", call()))?.text).toBe("sk-unlisted-but-decrypts");
    emulator.faults.set([{ operation: "Decrypt", kind: "throttle" }]);
    const throttled = await failure(driver.read("DECRYPTS", call()));
    expect(driver.classifyError(throttled).code).toBe(Code.ResourceExhausted);
  });

  it("discards a plaintext whose CRC32C does not match (DATA_LOSS), never returning it", async () => {
    const driver = driverWith({ CORRUPTED: await encrypt("must not leak") });
    emulator.keys.corruptDecrypts = 1;
    const error = await failure(driver.read("CORRUPTED", call()));
    expect((error as ServiceError).code).toBe(Code.DataLoss);
    expect((error as ServiceError).message).not.toContain("leak");
  });

  it("retries throttling a bounded number of times and then reports RESOURCE_EXHAUSTED", async () => {
    const driver = driverWith({ THROTTLED: await encrypt("x") });
    emulator.faults.set([{ operation: "Decrypt", kind: "throttle" }]);
    const error = await failure(driver.read("THROTTLED", call()));
    expect(driver.classifyError(error).code).toBe(Code.ResourceExhausted);
    expect(emulator.faults.calls().Decrypt).toBe(MAX_ATTEMPTS);
  });

  it("refuses an encryption context, which google_kms could never match on decrypt", async () => {
    const attempt = encryptWithGoogleKms("x", {
      key: DEFAULT_KEY,
      context: { team: "a" },
      env: { GOOGLE_KMS_ENDPOINT: emulator.endpoint },
    });
    await expect(attempt).rejects.toThrow(/--context/);
    expect(emulator.faults.calls().Encrypt).toBeUndefined();
  });

  it("secretgate encrypt --kms google prints ciphertext the driver decrypts", async () => {
    // Asynchronously: the emulator answers from this process's event loop.
    const result = await promisify(execFile)(
      process.execPath,
      [SERVER_ENTRY, "encrypt", "--kms", "google", "--key", OTHER_KEY, "cli value"],
      {
        env: { PATH: process.env.PATH ?? "", GOOGLE_KMS_ENDPOINT: emulator.endpoint },
      },
    );
    expect(result.stderr).toBe("");
    const ciphertext = result.stdout.trim();
    const value = await driverWith({ FROM_CLI: ciphertext }).read("FROM_CLI", call({ resource_name: OTHER_KEY }));
    expect(value?.text).toBe("cli value");
  });
});
