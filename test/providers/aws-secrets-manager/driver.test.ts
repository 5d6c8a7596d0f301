import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "../../../src/core/errors.js";
import type { DriverCall } from "../../../src/drivers/driver.js";
import { resolveAwsConnection } from "../../../src/providers/aws-common/aws-settings.js";
import { SecretsManagerDriver } from "../../../src/providers/aws-secrets-manager/driver.js";
import { secretsManagerTeamSettings } from "../../../src/providers/aws-secrets-manager/settings.js";
import { type AwsEmulatorHandle, emulatorEnv, startEmulator } from "../../emulators/aws-common/endpoint.js";

let emulator: AwsEmulatorHandle;
let driver: SecretsManagerDriver;
const call = (): DriverCall => ({ team: {}, signal: AbortSignal.timeout(10_000) });

beforeAll(async () => {
  emulator = await startEmulator();
  driver = new SecretsManagerDriver({
    connection: resolveAwsConnection({}, emulatorEnv(emulator.endpoint), "SECRETS_MANAGER"),
  });
});
afterAll(async () => {
  await driver.close();
  await emulator.close();
});

describe("aws_secret_manager driver specifics", () => {
  it("reports the AWSCURRENT version id through DescribeSecret, and none once deleted or missing", async () => {
    await driver.write({ name: "versions/key", value: { text: "one" }, tags: {} }, call());
    const second = await driver.write({ name: "versions/key", value: { text: "two" }, tags: {} }, call());
    expect(await driver.currentVersion("versions/key", call())).toBe(second.version);
    await driver.delete("versions/key", { force: false }, call());
    expect(await driver.currentVersion("versions/key", call())).toBeUndefined();
    expect(await driver.currentVersion("versions/never", call())).toBeUndefined();
    expect(emulator.emulator.faults.calls().DescribeSecret).toBe(3);
  });

  it("treats a second default delete of a scheduled secret as missing, and force-deletes it", async () => {
    await driver.write({ name: "twice", value: { text: "x" }, tags: {} }, call());
    expect(await driver.delete("twice", { force: false }, call())).toEqual({ recoverable: true });
    expect(await driver.delete("twice", { force: false }, call())).toBeUndefined();
    expect(await driver.delete("twice", { force: true }, call())).toEqual({ recoverable: false });
    expect(await driver.list(call())).not.toContain("twice");
  });

  it("classifies AWS errors into portable codes with the AWS error name", () => {
    const aws = (name: string, message = "", status = 400) =>
      Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
    expect(driver.classifyError(aws("AccessDeniedException", "not authorized", 400)).code).toBe(Code.PermissionDenied);
    expect(driver.classifyError(aws("ThrottlingException", "Rate exceeded")).code).toBe(Code.ResourceExhausted);
    expect(driver.classifyError(aws("InvalidRequestException", "it was marked for deletion")).code).toBe(Code.NotFound);
    expect(driver.classifyError(aws("InvalidRequestException", "it was marked for deletion")).message).toContain(
      "scheduled for deletion",
    );
    expect(driver.classifyError(aws("InternalServiceError", "", 500)).code).toBe(Code.Unavailable);
    expect(driver.classifyError(Object.assign(new Error("connect"), { code: "ECONNREFUSED" })).code).toBe(
      Code.Unavailable,
    );
  });

  it("validates team settings against exactly the keys docs/configuration.md lists for it", () => {
    expect(
      secretsManagerTeamSettings.safeParse({ aws_region_name: "eu-west-1", prefix: "eu/", tags: { a: "b" } }).success,
    ).toBe(true);
    expect(secretsManagerTeamSettings.safeParse({ vault_uri: "https://x" }).success).toBe(false);
  });

  it("takes regions, roles, session names and external ids only in the shapes AWS gives them", () => {
    const accepts = (settings: Record<string, unknown>) => secretsManagerTeamSettings.safeParse(settings).success;
    for (const region of [
      "us-east-1",
      "eu-west-1",
      "us-gov-west-1",
      "cn-north-1",
      "ap-southeast-5",
      "eu-isoe-west-1",
      "us-isob-east-1",
    ]) {
      expect(accepts({ aws_region_name: region }), region).toBe(true);
    }
    for (const region of [
      "",
      "evil.example.com",
      "x/y",
      "us-east-1/../x",
      "US-EAST-1",
      "us-east",
      "us-east-1.evil",
      "localhost:4566",
      "us_east_1",
    ]) {
      expect(accepts({ aws_region_name: region }), region).toBe(false);
    }
    expect(
      accepts({
        aws_role_name: "arn:aws:iam::123456789012:role/team/eu-writer",
        aws_session_name: "team-eu",
        aws_external_id: "ext:42/a",
      }),
    ).toBe(true);
    expect(accepts({ aws_role_name: "arn:aws-us-gov:iam::123456789012:role/x" })).toBe(true);
    for (const settings of [
      { aws_role_name: "eu-writer" },
      { aws_role_name: "arn:aws:iam::123456789012:user/x" },
      { aws_session_name: "has space" },
      { aws_external_id: "[redacted]" },
    ]) {
      expect(accepts(settings), JSON.stringify(settings)).toBe(false);
    }
  });

  it("refuses a region from the environment that is not one, naming the variable", () => {
    expect(() => resolveAwsConnection({}, { AWS_REGION: "evil.example.com" }, "SECRETS_MANAGER")).toThrow(
      /^AWS_REGION must be an AWS region/,
    );
  });
});
