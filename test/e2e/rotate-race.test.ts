import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AwsEmulatorHandle, emulatorEnv, startEmulator } from "../emulators/aws-common/endpoint.js";
import { callFailure } from "../helpers/call-failure.js";
import { TestServer } from "../helpers/server.js";

/**
 * Rotate to a new name races a Write to that name: the emulator holds Rotate's read-back of the
 * new name until another caller's Write has landed on it, so the read-back shows that caller's
 * value. Whatever the new name held before, Rotate must leave it — never delete another
 * caller's secret — and answer ABORTED.
 */
describe("Rotate racing a Write to its new name (server process + AWS emulator)", () => {
  let aws: AwsEmulatorHandle;
  let server: TestServer;

  beforeAll(async () => {
    aws = await startEmulator();
    server = await TestServer.start({
      config: {
        general_settings: {
          key_management_system: "aws_secret_manager",
          key_management_settings: { access_mode: "read_and_write" },
        },
      },
      env: emulatorEnv(aws.endpoint),
    });
  });
  afterAll(async () => {
    aws?.emulator.faults.release();
    await server?.stop();
    await aws?.close();
  });

  const cases: Array<[string, (name: string) => Promise<unknown>]> = [
    ["held a secret", (name) => server.grpc.write({ name, value: "sk-held-before-the-rotate" })],
    [
      "held a secret scheduled for deletion (recoverable)",
      async (name) => {
        await server.grpc.write({ name, value: "sk-recoverable-before-the-rotate" });
        expect(await server.grpc.delete({ name })).toMatchObject({ recoverable: true });
      },
    ],
    ["was free, so the Rotate created it", async () => undefined],
  ];

  it.each(cases)(
    "leaves a new name that %s once another writer's value landed on it, answering ABORTED",
    async (_case, prepare) => {
      const suffix = Math.random().toString(36).slice(2, 10);
      const current = `race/current-${suffix}`;
      const target = `race/target-${suffix}`;
      await server.grpc.write({ name: current, value: "sk-old-value-of-current" });
      await prepare(target);
      const { emulator } = aws;
      emulator.faults.resetCalls();
      emulator.faults.set([{ operation: "GetSecretValue", target, kind: "hold", times: 1 }]);

      const rotation = callFailure(
        server.grpc.rotate({ currentName: current, newName: target, value: "sk-value-the-rotate-wrote" }),
      );
      await emulator.faults.whenHolding();
      await server.grpc.write({ name: target, value: "sk-value-another-caller-wrote" });
      emulator.faults.release();
      const failure = await rotation;

      expect(failure.code).toBe(Code.Aborted);
      const { results } = await server.grpc.read({ names: [target, current] });
      expect(results[0]).toMatchObject({ found: true, value: "sk-value-another-caller-wrote" });
      expect(results[1]).toMatchObject({ found: true, value: "sk-old-value-of-current" });
      expect(emulator.faults.calls().DeleteSecret).toBeUndefined();
      expect(failure.message).toContain(`"${target}"`);
      expect(failure.message).toContain("left as it is");
      expect(failure.message).toContain(`"${current}" is unchanged`);
      expect(failure.message).not.toMatch(/sk-(value|old|held|recoverable)/);
    },
  );
});
