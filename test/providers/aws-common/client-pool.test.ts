import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_LOCATIONS } from "../../../src/drivers/location-clients.js";
import { AwsClientPool } from "../../../src/providers/aws-common/aws-client-pool.js";
import { resolveAwsConnection } from "../../../src/providers/aws-common/aws-settings.js";
import { SecretsManagerDriver } from "../../../src/providers/aws-secrets-manager/driver.js";
import { type AwsEmulatorHandle, emulatorEnv, startEmulator } from "../../emulators/aws-common/endpoint.js";

let emulator: AwsEmulatorHandle;
const signal = () => AbortSignal.timeout(10_000);

beforeAll(async () => {
  emulator = await startEmulator();
  const seed = new SecretsManagerDriver({
    connection: resolveAwsConnection({}, emulatorEnv(emulator.endpoint), "SECRETS_MANAGER"),
  });
  await seed.write({ name: "pool/probe", value: { text: "probe" }, tags: {} }, { team: {}, signal: signal() });
  await seed.close();
});
afterAll(() => emulator.close());

describe("AWS client pool", () => {
  it("keeps clients for at most MAX_LOCATIONS team regions, destroys those pushed out once their calls are over, and remakes one on its next use", async () => {
    const destroyed: string[] = [];
    const pool = new AwsClientPool(
      resolveAwsConnection({}, emulatorEnv(emulator.endpoint), "SECRETS_MANAGER"),
      (config) => {
        const client = new SecretsManagerClient(config);
        const destroy = client.destroy.bind(client);
        client.destroy = () => {
          destroyed.push(config.region);
          destroy();
        };
        return client;
      },
      { retireAfterMs: 20 },
    );
    const home = await pool.client({}, signal());
    // A call still running on a client when it is pushed out is not cut short.
    const running = home.send(new GetSecretValueCommand({ SecretId: "pool/probe" }), { abortSignal: signal() });
    for (let index = 0; index < MAX_LOCATIONS + 44; index += 1)
      await pool.client({ aws_region_name: `xx-test-${index}` }, signal());
    expect(pool.size).toBe(MAX_LOCATIONS);
    expect((await running).SecretString).toBe("probe");

    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(destroyed).toHaveLength(45);
    expect(destroyed[0]).toBe("us-east-1");

    const again = await pool.client({}, signal());
    expect(again).not.toBe(home);
    expect(
      (await again.send(new GetSecretValueCommand({ SecretId: "pool/probe" }), { abortSignal: signal() })).SecretString,
    ).toBe("probe");
    // Remaking it pushed out one more; close destroys that one with every live client, at once.
    pool.close();
    expect(destroyed).toHaveLength(45 + 1 + MAX_LOCATIONS);
  });
});
