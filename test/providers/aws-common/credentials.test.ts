import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/config/config-error.js";
import { Code, type ServiceError } from "../../../src/core/errors.js";
import type { DriverCall } from "../../../src/drivers/driver.js";
import { resolveAwsConnection } from "../../../src/providers/aws-common/aws-settings.js";
import { REFRESH_MARGIN_MS, RefreshingCredentials } from "../../../src/providers/aws-common/refreshing-credentials.js";
import { SecretsManagerDriver } from "../../../src/providers/aws-secrets-manager/driver.js";
import { type AwsEmulatorHandle, emulatorEnv, startEmulator } from "../../emulators/aws-common/endpoint.js";
import { admin, emulatorCalls, resetEmulator } from "../../helpers/aws-emulator-admin.js";

const ROLE = "arn:aws:iam::123456789012:role/secretgate-reader";
const TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpsaXRlbGxtIn0.c2lnbmF0dXJl";

let emulator: AwsEmulatorHandle;
let tempDir: string;
const call = (team: Record<string, unknown> = {}): DriverCall => ({ team, signal: AbortSignal.timeout(10_000) });

function driverWith(settings: Record<string, unknown>, env: Record<string, string | undefined>): SecretsManagerDriver {
  return new SecretsManagerDriver({ connection: resolveAwsConnection(settings, env, "SECRETS_MANAGER") });
}

beforeAll(async () => {
  emulator = await startEmulator();
  tempDir = mkdtempSync(join(tmpdir(), "secretgate-aws-"));
  const seed = driverWith({}, emulatorEnv(emulator.endpoint));
  await seed.write({ name: "cred/probe", value: { text: "probe" }, tags: {} }, call());
  await seed.close();
});
beforeEach(() => resetEmulator(emulator.endpoint));
afterAll(async () => {
  await emulator.close();
  rmSync(tempDir, { recursive: true, force: true });
});

describe("AWS credentials", () => {
  it("assumes aws_role_name (with session name and external id) once and signs with the assumed keys", async () => {
    await admin(emulator.endpoint, "roles", { roleArn: ROLE, externalId: "ext-42" });
    const driver = driverWith(
      { aws_role_name: ROLE, aws_session_name: "litellm-proxy", aws_external_id: "ext-42" },
      emulatorEnv(emulator.endpoint),
    );
    for (let index = 0; index < 3; index += 1) expect((await driver.read("cred/probe", call()))?.text).toBe("probe");
    const { calls } = await emulatorCalls(emulator.endpoint);
    expect(calls.filter((record) => record.operation === "AssumeRole")).toHaveLength(1);
    const reads = calls.filter((record) => record.operation === "GetSecretValue");
    expect(reads).toHaveLength(3);
    for (const read of reads) {
      expect(read.principal).toBe("arn:aws:sts::123456789012:assumed-role/secretgate-reader/litellm-proxy");
      expect(read.accessKeyId).toMatch(/^ASIA/);
    }
    await driver.close();
  });

  it("refuses a wrong external id as PERMISSION_DENIED naming the role", async () => {
    await admin(emulator.endpoint, "roles", { roleArn: ROLE, externalId: "ext-42" });
    const driver = driverWith({ aws_role_name: ROLE, aws_external_id: "wrong-id" }, emulatorEnv(emulator.endpoint));
    const error = (await driver.read("cred/probe", call()).catch((failure: unknown) => failure)) as ServiceError;
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.message).toContain(ROLE);
    await driver.close();
  });

  it("exchanges aws_web_identity_token through AssumeRoleWithWebIdentity", async () => {
    const driver = driverWith(
      { aws_role_name: ROLE, aws_web_identity_token: TOKEN },
      { ...emulatorEnv(emulator.endpoint), AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined },
    );
    expect((await driver.read("cred/probe", call()))?.text).toBe("probe");
    const { calls } = await emulatorCalls(emulator.endpoint);
    expect(calls.map((record) => record.operation)).toEqual(["AssumeRoleWithWebIdentity", "GetSecretValue"]);
    expect(calls[1]!.principal).toContain("assumed-role/secretgate-reader/secretgate");
    await driver.close();
  });

  it("uses IRSA (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE), reading the token file", async () => {
    const tokenFile = join(tempDir, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const { AWS_ACCESS_KEY_ID: _key, AWS_SECRET_ACCESS_KEY: _secret, ...base } = emulatorEnv(emulator.endpoint);
    const driver = driverWith({}, { ...base, AWS_ROLE_ARN: ROLE, AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile });
    expect((await driver.read("cred/probe", call()))?.text).toBe("probe");
    expect((await emulatorCalls(emulator.endpoint)).counts.AssumeRoleWithWebIdentity).toBe(1);
    await driver.close();
  });

  it("reports a wrong secret access key as PERMISSION_DENIED (the emulator verifies SigV4)", async () => {
    const driver = driverWith({}, { ...emulatorEnv(emulator.endpoint), AWS_SECRET_ACCESS_KEY: "not-the-secret" });
    const error = (await driver.read("cred/probe", call()).catch((failure: unknown) => failure)) as ServiceError;
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.message).toContain("InvalidSignatureException");
    expect(error.message).not.toContain("not-the-secret");
    await driver.close();
  });

  it("needs a region, naming the setting and the variables", () => {
    expect(() => resolveAwsConnection({}, {}, "SECRETS_MANAGER")).toThrow(ConfigError);
    expect(() => resolveAwsConnection({}, {}, "SECRETS_MANAGER")).toThrow(/aws_region_name.*AWS_REGION_NAME/);
  });

  it("prefers the endpoint setting, then AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL", () => {
    const env = {
      AWS_REGION: "eu-central-1",
      AWS_ENDPOINT_URL: "http://general",
      AWS_ENDPOINT_URL_KMS: "http://kms",
      AWS_ENDPOINT_URL_STS: "http://sts",
    };
    expect(resolveAwsConnection({}, env, "KMS")).toMatchObject({
      region: "eu-central-1",
      endpoint: "http://kms",
      stsEndpoint: "http://sts",
    });
    expect(resolveAwsConnection({}, env, "SECRETS_MANAGER").endpoint).toBe("http://general");
    expect(resolveAwsConnection({ endpoint: "http://vpce" }, env, "SECRETS_MANAGER").endpoint).toBe("http://vpce");
  });
});

describe("RefreshingCredentials", () => {
  it("reuses credentials until the refresh margin before expiry, sharing one fetch between callers", async () => {
    let now = 0;
    let fetches = 0;
    const credentials = new RefreshingCredentials(
      async () => {
        fetches += 1;
        return { accessKeyId: `key-${fetches}`, secretAccessKey: "s", expiration: new Date(now + 3_600_000) };
      },
      () => now,
    );
    const [first, second] = await Promise.all([credentials.get(), credentials.get()]);
    expect([first.accessKeyId, second.accessKeyId, fetches]).toEqual(["key-1", "key-1", 1]);
    now = 3_600_000 - REFRESH_MARGIN_MS - 1;
    expect((await credentials.get()).accessKeyId).toBe("key-1");
    now = 3_600_000 - REFRESH_MARGIN_MS;
    expect((await credentials.get()).accessKeyId).toBe("key-2");
  });

  it("lets a caller's signal end the wait without failing the shared fetch", async () => {
    let release: () => void = () => undefined;
    const credentials = new RefreshingCredentials(
      () => new Promise((resolve) => (release = () => resolve({ accessKeyId: "slow", secretAccessKey: "s" }))),
    );
    const controller = new AbortController();
    const waiting = credentials.get(controller.signal);
    controller.abort(new Error("deadline"));
    await expect(waiting).rejects.toThrow("deadline");
    const patient = credentials.get();
    release();
    expect((await patient).accessKeyId).toBe("slow");
  });
});
