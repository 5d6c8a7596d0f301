import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emulatorEnv, startEmulator as startAws } from "../emulators/aws-common/endpoint.js";
import { sdkEnvironment, startEmulator as startAzure } from "../emulators/azure-key-vault/index.js";
import type { FaultRule } from "../emulators/common/faults.js";
import { startEmulator as startConjur } from "../emulators/cyberark/index.js";
import { startEmulator as startGoogle } from "../emulators/google-secret-manager/index.js";
import { callFailure } from "../helpers/call-failure.js";
import { TestServer } from "../helpers/server.js";
import { startVaultTestBed } from "../helpers/vault-test-bed.js";

/**
 * Issue 26's finding: a Rotate to a new name whose read-back of that name answers "not found" (a
 * lagging back end) while another writer's version lands on it. The roll-back then deleted the
 * whole name — the other writer's value with it — and answered "removed it again". Each back end
 * runs through the server process and its real SDK against its emulator, whose fault injector
 * answers the read-back as lagging and lands the other writer's value at that moment.
 */

const OLD = "sk-rollback-old-value";
const NEW = "sk-rollback-value-the-rotate-wrote";
const OTHER = "sk-rollback-another-writers-value";

interface Bed {
  server: TestServer;
  /** Sets one fault rule on the emulator (replacing any). */
  fault(rule: FaultRule): void;
  close(): Promise<void>;
}

interface BackEnd {
  system: string;
  start(): Promise<Bed>;
  /** The call that reads a name back, the secret it names as the emulator sees it, and earlier such calls a write makes. */
  readBack: { operation: string; target(name: string): string; after?: number };
  /** What Rotate's roll-back does with the version it wrote (docs/operations.md): one version only, or nothing. */
  rollback: "destroyed" | "disabled" | "left";
}

const readWrite = (system: string, settings: Record<string, unknown> = {}) => ({
  general_settings: {
    key_management_system: system,
    key_management_settings: { access_mode: "read_and_write", ...settings },
  },
});

const BACK_ENDS: BackEnd[] = [
  {
    system: "aws_secret_manager",
    async start() {
      const aws = await startAws();
      const server = await TestServer.start({
        config: readWrite("aws_secret_manager"),
        env: emulatorEnv(aws.endpoint),
      });
      return {
        server,
        fault: (rule) => aws.emulator.faults.set([rule]),
        close: async () => {
          await server.stop();
          await aws.close();
        },
      };
    },
    readBack: { operation: "GetSecretValue", target: (name) => name },
    rollback: "left",
  },
  {
    system: "google_secret_manager",
    async start() {
      const google = await startGoogle({ host: "127.0.0.1", port: 0 });
      const server = await TestServer.start({
        config: readWrite("google_secret_manager"),
        env: { GOOGLE_SECRET_MANAGER_PROJECT_ID: "rollback-project", GOOGLE_SECRET_MANAGER_ENDPOINT: google.endpoint },
      });
      return {
        server,
        fault: (rule) => google.faults.set([rule]),
        close: async () => {
          await server.stop();
          await google.close();
        },
      };
    },
    readBack: { operation: "AccessSecretVersion", target: (name) => name },
    rollback: "destroyed",
  },
  {
    system: "azure_key_vault",
    async start() {
      const vault = await startAzure({ host: "127.0.0.1", port: 0 });
      const server = await TestServer.start({ config: readWrite("azure_key_vault"), env: sdkEnvironment(vault) });
      return {
        server,
        fault: (rule) => vault.faults.set([rule]),
        close: async () => {
          await server.stop();
          await vault.close();
        },
      };
    },
    // The write looks the name up first (GetSecret answers 404), then the read-back reads it.
    readBack: { operation: "GetSecret", target: (name) => name, after: 1 },
    rollback: "disabled",
  },
  {
    system: "hashicorp_vault",
    async start() {
      const bed = await startVaultTestBed();
      const server = await TestServer.start({ config: readWrite("hashicorp_vault"), env: bed.env("token") });
      return {
        server,
        fault: (rule) => bed.emulator.faults.set([rule]),
        close: async () => {
          await server.stop();
          await bed.close();
        },
      };
    },
    readBack: { operation: "kv-read", target: (name) => name },
    rollback: "destroyed",
  },
  {
    system: "cyberark",
    async start() {
      const conjur = await startConjur({ host: "127.0.0.1", port: 0, tls: true });
      const login = conjur.logins[0]!;
      const server = await TestServer.start({
        config: readWrite("cyberark", { policy_branch: "secretgate" }),
        env: {
          CYBERARK_API_BASE: conjur.endpoint,
          CYBERARK_ACCOUNT: login.account,
          CYBERARK_USERNAME: login.login,
          CYBERARK_API_KEY: login.apiKey,
          NODE_EXTRA_CA_CERTS: conjur.caFile!,
        },
      });
      return {
        server,
        fault: (rule) => conjur.faults.set([rule]),
        close: async () => {
          await server.stop();
          await conjur.close();
        },
      };
    },
    // Conjur reads the version number from the resource, then the value at it: the value's read lags.
    readBack: { operation: "GetSecret", target: (name) => `secretgate/${name}` },
    rollback: "left",
  },
];

for (const backEnd of BACK_ENDS) {
  describe(`Rotate's roll-back after a lagging read-back on ${backEnd.system} (server process, real SDK, emulator)`, () => {
    let bed: Bed;

    beforeAll(async () => {
      bed = await backEnd.start();
    });
    afterAll(async () => {
      await bed?.close();
    });

    const names = () => {
      const suffix = randomUUID().slice(0, 8);
      return { current: `rollback-current-${suffix}`, target: `rollback-target-${suffix}` };
    };
    const read = async (name: string) => (await bed.server.grpc.read({ names: [name], bypassCache: true })).results[0]!;
    const lagging = (name: string, extra: Partial<FaultRule> = {}): FaultRule => ({
      operation: backEnd.readBack.operation,
      target: backEnd.readBack.target(name),
      kind: "lag",
      times: 1,
      ...(backEnd.readBack.after !== undefined ? { after: backEnd.readBack.after } : {}),
      ...extra,
    });

    it("never removes another writer's value that landed while the read-back lagged, answering ABORTED", async () => {
      const { current, target } = names();
      await bed.server.grpc.write({ name: current, value: OLD });
      bed.fault(lagging(target, { interleave: { value: OTHER } }));

      const failure = await callFailure(bed.server.grpc.rotate({ currentName: current, newName: target, value: NEW }));

      expect(failure.code).toBe(Code.Aborted);
      // Through the cache too: the lagging read-back's "not found" was not kept.
      expect((await bed.server.grpc.read({ names: [target] })).results[0]).toMatchObject({ found: true, value: OTHER });
      expect(await read(target)).toMatchObject({ found: true, value: OTHER });
      expect(await read(current)).toMatchObject({ found: true, value: OLD });
      expect(failure.message).toContain(`"${target}"`);
      expect(failure.message).toContain(`"${current}" is unchanged`);
      expect(failure.message).not.toContain("removed it again");
      for (const value of [OLD, NEW, OTHER]) expect(failure.message).not.toContain(value);
    });

    const outcome =
      backEnd.rollback === "left"
        ? "leaves the name holding the value it wrote, saying so"
        : `${backEnd.rollback} the version it wrote, and no other`;
    it(`with the read-back lagging alone, ${outcome}; a retried Rotate then completes`, async () => {
      const { current, target } = names();
      await bed.server.grpc.write({ name: current, value: OLD });
      bed.fault(lagging(target));

      const failure = await callFailure(bed.server.grpc.rotate({ currentName: current, newName: target, value: NEW }));

      expect(failure.code).toBe(Code.Aborted);
      expect(await read(current)).toMatchObject({ found: true, value: OLD });
      if (backEnd.rollback === "left") {
        expect(await read(target)).toMatchObject({ found: true, value: NEW });
        expect(failure.message).toContain(`${backEnd.system} cannot remove one version`);
        expect(failure.message).toContain("left as it is");
      } else {
        expect(await read(target)).toMatchObject({ found: false, value: "" });
        expect(failure.message).toContain(`${backEnd.rollback} the version it wrote`);
      }
      for (const value of [OLD, NEW]) expect(failure.message).not.toContain(value);

      const retried = await bed.server.grpc.rotate({ currentName: current, newName: target, value: NEW });
      expect(retried).toMatchObject({ name: target, oldDeleted: true });
      expect(await read(target)).toMatchObject({ found: true, value: NEW });
      expect(await read(current)).toMatchObject({ found: false });
    });
  });
}
