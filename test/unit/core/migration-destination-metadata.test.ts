import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { create } from "@bufbuild/protobuf";
import { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ExistingMetadata,
  MigrateSecretRequestSchema,
  MigrationOutcome,
  PlanMigrationRequestSchema,
} from "../../../gen/secretgate/v1/admin_service_pb.js";
import type { BackendConfig } from "../../../src/config/schema.js";
import { AdminService } from "../../../src/core/admin-service.js";
import { Backends } from "../../../src/core/backends.js";
import type { DriverDefinition } from "../../../src/drivers/driver.js";
import { resolveAwsConnection } from "../../../src/providers/aws-common/aws-settings.js";
import { SecretsManagerDriver } from "../../../src/providers/aws-secrets-manager/driver.js";
import { clientOptions } from "../../../src/providers/google-common/client-options.js";
import { parseEndpoint } from "../../../src/providers/google-common/connection.js";
import { SecretManagerDriver } from "../../../src/providers/google-secret-manager/driver.js";
import { resolveSecretManagerSettings } from "../../../src/providers/google-secret-manager/settings.js";
import { LocalDriver } from "../../../src/providers/local/driver.js";
import { SecretDatabase } from "../../../src/storage/database.js";
import { SqliteTeamSettingsStore } from "../../../src/storage/team-settings-store.js";
import {
  type AwsEmulatorHandle,
  DEFAULT_REGION,
  emulatorEnv,
  ROOT_CREDENTIALS,
  startEmulator as startAws,
} from "../../emulators/aws-common/endpoint.js";
import {
  type SecretManagerEmulator,
  startEmulator as startGoogle,
} from "../../emulators/google-secret-manager/index.js";
import { bedBackend } from "../../helpers/cached-driver-settings.js";
import { admin } from "../../helpers/callers.js";
import { parseConfig } from "../../helpers/config.js";

// Migration into a destination that already holds the secret with other metadata (an AWS
// description and tags, Google labels and its description annotation), through the official
// SDKs against the emulators. Before: the value was written first and the name then reported
// failed, and every rerun added a version (moving AWSPREVIOUS). Now the copy decides before
// writing and brings the metadata over; a rerun changes nothing.

const logger = pino({ level: "silent" });
const PROJECT = "migration-project";

let aws: AwsEmulatorHandle;
let google: SecretManagerEmulator;
let awsClient: SecretsManagerClient;
let googleClient: SecretManagerServiceClient;
let service: AdminService;
let local: LocalDriver;
let database: SecretDatabase;
let dataDir: string;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  [aws, google] = await Promise.all([startAws(), startGoogle({ host: "127.0.0.1", port: 0 })]);
  awsClient = new SecretsManagerClient({
    region: DEFAULT_REGION,
    endpoint: aws.endpoint,
    credentials: ROOT_CREDENTIALS,
  });
  googleClient = new SecretManagerServiceClient(
    clientOptions({ transport: "grpc", endpoint: parseEndpoint(google.endpoint, "endpoint") }),
  );
  dataDir = mkdtempSync(join(tmpdir(), "secretgate-migration-metadata-"));
  database = SecretDatabase.open({ dataDir, masterKeyEnv: undefined }).database;
  local = new LocalDriver(database);
  const awsDriver = new SecretsManagerDriver({
    connection: resolveAwsConnection({}, emulatorEnv(aws.endpoint), "SECRETS_MANAGER"),
  });
  const googleDriver = new SecretManagerDriver(
    resolveSecretManagerSettings(
      { store_virtual_keys: false, prefix_for_stored_virtual_keys: "" },
      { GOOGLE_SECRET_MANAGER_PROJECT_ID: PROJECT, GOOGLE_SECRET_MANAGER_ENDPOINT: google.endpoint },
    ),
  );
  closers.push(
    () => awsDriver.close(),
    () => googleDriver.close(),
  );
  const template = await parseConfig({}, {});
  const base = template.backends[0]!;
  const config = (name: string): BackendConfig<DriverDefinition> => ({
    ...base,
    name,
    accessMode: "read_and_write",
    at: `secretgate.backends.${name}`,
  });
  const backends = [
    bedBackend(config("local"), local, logger),
    bedBackend(config("aws"), awsDriver, logger),
    bedBackend(config("google"), googleDriver, logger),
  ];
  service = new AdminService({
    backends: new Backends(backends, "local", []),
    teams: new SqliteTeamSettingsStore(database),
    identities: [],
    audit: {
      subscribe: () => {
        throw new Error("this bed has no audit feed");
      },
    },
  });
});

afterAll(async () => {
  for (const close of closers) await close();
  awsClient?.destroy();
  await googleClient?.close();
  await Promise.all([aws?.close(), google?.close()]);
  database?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const migrate = (toBackend: string, name: string, dryRun = false) =>
  service.migrateSecret(create(MigrateSecretRequestSchema, { fromBackend: "local", toBackend, name, dryRun }), admin);

async function awsSecret(name: string) {
  const described = await awsClient.send(new DescribeSecretCommand({ SecretId: name }));
  const stages = described.VersionIdsToStages ?? {};
  return {
    description: described.Description,
    tags: Object.fromEntries((described.Tags ?? []).map(({ Key, Value }) => [Key, Value])),
    versions: Object.keys(stages).length,
    current: Object.entries(stages).find(([, labels]) => labels.includes("AWSCURRENT"))?.[0],
    previous: Object.entries(stages).find(([, labels]) => labels.includes("AWSPREVIOUS"))?.[0],
  };
}

async function googleSecret(name: string) {
  const [secret] = await googleClient.getSecret({ name: `projects/${PROJECT}/secrets/${name}` });
  const [versions] = await googleClient.listSecretVersions({ parent: `projects/${PROJECT}/secrets/${name}` });
  return { labels: { ...secret.labels }, description: secret.annotations?.description, versions: versions.length };
}

describe("migration into a destination with other metadata", () => {
  it("AWS: the same value under another description and tags gets the source's metadata and no new version; a rerun changes nothing", async () => {
    await local.write({
      name: "aws-same",
      value: { text: "sk-aws-same-value" },
      description: "from the store",
      tags: { team: "platform", env: "prod" },
    });
    await awsClient.send(
      new CreateSecretCommand({
        Name: "aws-same",
        SecretString: "sk-aws-same-value",
        Description: "theirs",
        Tags: [
          { Key: "team", Value: "other" },
          { Key: "owner", Value: "ops" },
        ],
      }),
    );
    const before = await awsSecret("aws-same");

    const dry = await migrate("aws", "aws-same", true);
    expect(dry).toMatchObject({ outcome: MigrationOutcome.WOULD_COPY, overwritten: true });
    expect(await awsSecret("aws-same")).toEqual(before);

    const copied = await migrate("aws", "aws-same");
    expect(copied).toMatchObject({ outcome: MigrationOutcome.COPIED, overwritten: true, version: before.current });
    const after = await awsSecret("aws-same");
    // The destination's own tag (owner) stays: only what the copy brings must match.
    expect(after).toEqual({
      ...before,
      description: "from the store",
      tags: { team: "platform", env: "prod", owner: "ops" },
    });

    expect((await migrate("aws", "aws-same")).outcome).toBe(MigrationOutcome.UNCHANGED);
    expect(await awsSecret("aws-same")).toEqual(after);
  });

  it("AWS: another value under other metadata adds one version carrying the source's metadata; a rerun leaves AWSPREVIOUS where it is", async () => {
    await local.write({
      name: "aws-other",
      value: { text: "sk-aws-new-value" },
      description: "moved",
      tags: { team: "platform" },
    });
    await awsClient.send(
      new CreateSecretCommand({ Name: "aws-other", SecretString: "sk-aws-old-value", Description: "theirs" }),
    );
    const before = await awsSecret("aws-other");
    const copied = await migrate("aws", "aws-other");
    expect(copied.outcome).toBe(MigrationOutcome.COPIED);
    const after = await awsSecret("aws-other");
    expect(after).toMatchObject({
      description: "moved",
      tags: { team: "platform" },
      versions: 2,
      previous: before.current,
      current: copied.version,
    });
    expect((await migrate("aws", "aws-other")).outcome).toBe(MigrationOutcome.UNCHANGED);
    expect(await awsSecret("aws-other")).toEqual(after);
  });

  it("Google: the same value under other labels and description gets the source's, with no new version; a rerun changes nothing", async () => {
    await local.write({
      name: "google-same",
      value: { text: "sk-google-same" },
      description: "from the store",
      tags: { team: "platform" },
    });
    await googleClient.createSecret({
      parent: `projects/${PROJECT}`,
      secretId: "google-same",
      secret: {
        replication: { automatic: {} },
        labels: { team: "other", owner: "ops" },
        annotations: { description: "theirs" },
      },
    });
    await googleClient.addSecretVersion({
      parent: `projects/${PROJECT}/secrets/google-same`,
      payload: { data: Buffer.from("sk-google-same") },
    });
    const copied = await migrate("google", "google-same");
    expect(copied).toMatchObject({ outcome: MigrationOutcome.COPIED, overwritten: true, version: "1" });
    expect(await googleSecret("google-same")).toEqual({
      labels: { team: "platform", owner: "ops" },
      description: "from the store",
      versions: 1,
    });
    expect((await migrate("google", "google-same")).outcome).toBe(MigrationOutcome.UNCHANGED);
    expect(await googleSecret("google-same")).toEqual({
      labels: { team: "platform", owner: "ops" },
      description: "from the store",
      versions: 1,
    });
  });

  it("PlanMigration says beforehand that AWS and Google bring the metadata of a secret they hold over in place", async () => {
    for (const toBackend of ["aws", "google"]) {
      const planned = await service.planMigration(
        create(PlanMigrationRequestSchema, { fromBackend: "local", toBackend, match: ["none-*"] }),
        admin,
      );
      expect(planned.existingMetadata).toBe(ExistingMetadata.UPDATED);
    }
  });
});
