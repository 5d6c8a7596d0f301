import { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ServiceError } from "../../../src/core/errors.js";
import type { DriverCall } from "../../../src/drivers/driver.js";
import { clientOptions } from "../../../src/providers/google-common/client-options.js";
import { parseEndpoint } from "../../../src/providers/google-common/connection.js";
import { SecretManagerDriver } from "../../../src/providers/google-secret-manager/driver.js";
import { resolveSecretManagerSettings } from "../../../src/providers/google-secret-manager/settings.js";
import { type SecretManagerEmulator, startEmulator } from "../../emulators/google-secret-manager/index.js";

/** Driver behaviour beyond the conformance suite: version metadata, unusable versions, foreign payloads. */
const PROJECT = "driver-project";
let emulator: SecretManagerEmulator;
let driver: SecretManagerDriver;
let inspector: SecretManagerServiceClient;
const call = (): DriverCall => ({ team: {}, signal: AbortSignal.timeout(10_000), deadline: Date.now() + 10_000 });
const write = (name: string, text: string) => driver.write({ name, value: { text }, tags: {} }, call());

beforeAll(async () => {
  emulator = await startEmulator({ host: "127.0.0.1", port: 0 });
  driver = new SecretManagerDriver(
    resolveSecretManagerSettings(
      { store_virtual_keys: false, prefix_for_stored_virtual_keys: "" },
      { GOOGLE_SECRET_MANAGER_PROJECT_ID: PROJECT, GOOGLE_SECRET_MANAGER_ENDPOINT: emulator.endpoint },
    ),
  );
  inspector = new SecretManagerServiceClient(
    clientOptions({ transport: "grpc", endpoint: parseEndpoint(emulator.endpoint, "endpoint") }),
  );
});
afterAll(async () => {
  await driver?.close();
  await inspector?.close();
  await emulator?.close();
});

describe("google_secret_manager driver", () => {
  it("reports the current version from metadata, without fetching the payload", async () => {
    await write("VERSIONED", "one");
    await write("VERSIONED", "two");
    const accessesBefore = emulator.faults.calls().AccessSecretVersion ?? 0;
    expect(await driver.currentVersion("VERSIONED", call())).toBe("2");
    expect(await driver.currentVersion("NEVER_WRITTEN", call())).toBeUndefined();
    expect(emulator.faults.calls().AccessSecretVersion ?? 0).toBe(accessesBefore);
  });

  it("has no current version when the latest is disabled, so a cache cannot keep serving it", async () => {
    await write("DISABLED_META", "one");
    await inspector.disableSecretVersion({ name: `projects/${PROJECT}/secrets/DISABLED_META/versions/1` });
    expect(await driver.currentVersion("DISABLED_META", call())).toBeUndefined();
  });

  it("takes back no version but a secret's first: an older version of another writer would hide behind `latest`", async () => {
    // Another writer's version lands between this write's CreateSecret and its AddSecretVersion.
    emulator.faults.set([
      {
        operation: "AddSecretVersion",
        target: "RACED_CREATE",
        kind: "latency",
        after: 1,
        times: 1,
        interleave: { value: "sk-other-writer" },
      },
    ]);
    const written = await write("RACED_CREATE", "sk-raced-create");
    expect(written).toMatchObject({ created: true, version: "2" });
    expect(await driver.removeWrittenVersion("RACED_CREATE", written, call())).toBe(false);
    expect(await driver.read("RACED_CREATE", call())).toMatchObject({ text: "sk-raced-create", version: "2" });
    const [version] = await inspector.getSecretVersion({ name: `projects/${PROJECT}/secrets/RACED_CREATE/versions/1` });
    expect(version.state).toBe("ENABLED");
  });

  it("reports a destroyed latest version as not found, saying why", async () => {
    await write("DESTROYED", "one");
    await inspector.destroySecretVersion({ name: `projects/${PROJECT}/secrets/DESTROYED/versions/1` });
    const error = await driver.read("DESTROYED", call()).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(ServiceError);
    expect(error).toMatchObject({
      code: Code.NotFound,
      message: expect.stringContaining("latest version (1) is destroyed"),
    });
  });

  it("reads again once a disabled latest version is re-enabled", async () => {
    await write("REENABLED", "kept");
    const version = `projects/${PROJECT}/secrets/REENABLED/versions/1`;
    await inspector.disableSecretVersion({ name: version });
    await inspector.enableSecretVersion({ name: version });
    expect(await driver.read("REENABLED", call())).toMatchObject({ text: "kept", version: "1" });
  });

  it("returns a payload that is not UTF-8 (stored by another tool) as bytes, unaltered", async () => {
    const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0xff]);
    await inspector.createSecret({
      parent: `projects/${PROJECT}`,
      secretId: "FOREIGN",
      secret: { replication: { automatic: {} } },
    });
    await inspector.addSecretVersion({ parent: `projects/${PROJECT}/secrets/FOREIGN`, payload: { data: bytes } });
    const value = await driver.read("FOREIGN", call());
    expect(value?.text).toBeUndefined();
    expect(Buffer.from(value!.binary!).equals(bytes)).toBe(true);
  });

  it("describes a secret another tool created by its labels and description annotation only", async () => {
    await inspector.createSecret({
      parent: `projects/${PROJECT}`,
      secretId: "FOREIGN_DESCRIBED",
      secret: {
        replication: { automatic: {} },
        labels: { team: "a" },
        annotations: { description: "made elsewhere", "tool.example.owner": "ops" },
      },
    });
    expect(await driver.describe("FOREIGN_DESCRIBED", call())).toEqual({
      description: "made elsewhere",
      tags: { team: "a" },
    });
  });

  it("refuses a description larger than Secret Manager's 16 KiB of annotations with INVALID_ARGUMENT, creating nothing", async () => {
    const error = await driver
      .write(
        { name: "LONG_DESCRIPTION", value: { text: "sk-long" }, description: "d".repeat(16 * 1024), tags: {} },
        call(),
      )
      .catch((failure: unknown) => failure);
    expect(driver.classifyError(error).code).toBe(Code.InvalidArgument);
    expect(await driver.describe("LONG_DESCRIPTION", call())).toBeUndefined();
  });

  it("keys cache entries by project, so two teams' identical names never collide", () => {
    expect(driver.locationKey({})).toBe(PROJECT);
    expect(driver.locationKey({ project_id: "other" })).toBe("other");
  });

  it("brings a secret's labels and description over in place, keeping its other labels and annotations; the emulator's UpdateSecret answers as the real API", async () => {
    const secret = `projects/${PROJECT}/secrets/UPDATED_IN_PLACE`;
    await inspector.createSecret({
      parent: `projects/${PROJECT}`,
      secretId: "UPDATED_IN_PLACE",
      secret: {
        replication: { automatic: {} },
        labels: { team: "a", owner: "ops" },
        annotations: { description: "old", other: "kept" },
      },
    });
    await driver.updateMetadata("UPDATED_IN_PLACE", { description: "new", tags: { team: "b" } }, call());
    const [updated] = await inspector.getSecret({ name: secret });
    expect({ ...updated.labels }).toEqual({ team: "b", owner: "ops" });
    expect({ ...updated.annotations }).toEqual({ description: "new", other: "kept" });
    // An etag that is no longer the secret's is FAILED_PRECONDITION; a missing update_mask INVALID_ARGUMENT.
    const stale = await inspector
      .updateSecret({ secret: { name: secret, labels: {}, etag: '"0"' }, updateMask: { paths: ["labels"] } })
      .catch((error: { code: number }) => error.code);
    expect(stale).toBe(9);
    const unmasked = await inspector
      .updateSecret({ secret: { name: secret, labels: {} } })
      .catch((error: { code: number }) => error.code);
    expect(unmasked).toBe(3);
    expect(
      await driver
        .updateMetadata("UPDATED_IN_PLACE", { tags: { "Not-A-Label": "x" } }, call())
        .catch((error: ServiceError) => error.code),
    ).toBe(Code.InvalidArgument);
  });
});
