import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ExistingMetadata,
  MigrateSecretRequestSchema,
  type MigrateSecretResponse,
  MigrationOutcome,
  PlanMigrationRequestSchema,
} from "../../../gen/secretgate/v1/admin_service_pb.js";
import { ReadRequestSchema } from "../../../gen/secretgate/v1/secret_service_pb.js";
import type { AccessMode } from "../../../src/config/key-management-settings.js";
import type { BackendConfig } from "../../../src/config/schema.js";
import { AdminService } from "../../../src/core/admin-service.js";
import { Backends } from "../../../src/core/backends.js";
import { Code } from "../../../src/core/errors.js";
import { MAX_MIGRATED_NAMES } from "../../../src/core/migration.js";
import { SecretService } from "../../../src/core/secret-service.js";
import type { DriverCapabilities, DriverDefinition, DriverWrite, SecretPayload } from "../../../src/drivers/driver.js";
import { LocalDriver } from "../../../src/providers/local/driver.js";
import { SecretDatabase } from "../../../src/storage/database.js";
import { SqliteTeamSettingsStore } from "../../../src/storage/team-settings-store.js";
import { bedBackend } from "../../helpers/cached-driver-settings.js";
import { admin, caller } from "../../helpers/callers.js";
import { parseConfig } from "../../helpers/config.js";
import { InstrumentedDriver } from "../../helpers/instrumented-driver.js";
import { serviceFailure } from "../../helpers/service-failure.js";

// The migration core (PlanMigration, MigrateSecret) between back ends that are each an embedded
// store behind the instrumented driver, some declaring another back end's capabilities (text
// only, no description, no metadata, no listing): copies, verification, idempotence, dry runs,
// deleting the source, metadata a destination cannot keep, and writers racing the copy. The
// end-to-end test (test/e2e/migrate.test.ts) runs the same through the CLI against the Vault
// and AWS emulators.

const logger = pino({ level: "silent" });

const FULL: DriverCapabilities = {
  write: true,
  binary: true,
  list: true,
  metadata: { description: true, tags: true, writesReplace: true },
};

/**
 * A back end that keeps the metadata a secret was created with (as AWS Secrets Manager does) and
 * cannot change it afterwards (unlike the AWS driver, which has updateMetadata).
 */
class CreationMetadataDriver extends InstrumentedDriver {
  override async write(request: DriverWrite, call: Parameters<InstrumentedDriver["write"]>[1]) {
    const existing = await this.store.describe(request.name);
    return super.write(
      existing ? { ...request, description: existing.description, tags: existing.tags } : request,
      call,
    );
  }
}

/** A back end that stores the value but not the tags, and says so (Vault under a policy without metadata writes). */
class TagRefusingDriver extends InstrumentedDriver {
  override async write(request: DriverWrite, call: Parameters<InstrumentedDriver["write"]>[1]) {
    const written = await super.write({ ...request, tags: {} }, call);
    return Object.keys(request.tags).length === 0
      ? written
      : { ...written, warnings: ["the value was stored but its tags were not: permission denied"] };
  }
}

/** A back end whose best-effort replication fails: a warning on a write that succeeded (AWS with replica_regions). */
class ReplicaWarningDriver extends InstrumentedDriver {
  override async write(request: DriverWrite, call: Parameters<InstrumentedDriver["write"]>[1]) {
    return {
      ...(await super.write(request, call)),
      warnings: [`replication of ${JSON.stringify(request.name)} to eu-west-1 failed: no access`],
    };
  }
}

type DriverKind = typeof CreationMetadataDriver | typeof TagRefusingDriver | typeof ReplicaWarningDriver;

interface BackEndSpec {
  capabilities?: DriverCapabilities;
  accessMode?: AccessMode;
  hostedKeys?: string[];
  driver?: DriverKind;
}

const SPECS: Record<string, BackEndSpec> = {
  source: {},
  target: {},
  // Vault: text only.
  textonly: { capabilities: { ...FULL, binary: false } },
  // Azure Key Vault: tags, no description.
  tagsonly: { capabilities: { ...FULL, metadata: { description: false, tags: true, writesReplace: true } } },
  // Conjur: no metadata at all.
  bare: { capabilities: { write: true, binary: false, list: true } },
  // A KMS back end: cannot list, cannot write.
  kms: { capabilities: { write: false, binary: false, list: false } },
  readonly: { accessMode: "read_only" },
  writeonly: { accessMode: "write_only" },
  hosted: { hostedKeys: ["OPENAI_API_KEY"] },
  creation: {
    driver: CreationMetadataDriver,
    capabilities: { ...FULL, metadata: { description: true, tags: true, writesReplace: false } },
  },
  notags: { driver: TagRefusingDriver },
  replicas: { driver: ReplicaWarningDriver },
};

interface Bed {
  service: SecretService;
  admin: AdminService;
  drivers: Record<string, InstrumentedDriver>;
  close(): void;
}

async function startBed(): Promise<Bed> {
  const template = await parseConfig({}, {});
  const local = template.backends[0]!;
  const dataDirs: string[] = [];
  const databases: SecretDatabase[] = [];
  const drivers: Record<string, InstrumentedDriver> = {};
  const backends = Object.entries(SPECS).map(([name, spec]) => {
    const dataDir = mkdtempSync(join(tmpdir(), `secretgate-migrate-${name}-`));
    dataDirs.push(dataDir);
    const database = SecretDatabase.open({ dataDir, masterKeyEnv: undefined }).database;
    databases.push(database);
    const store = new LocalDriver(database);
    const driver = new (spec.driver ?? InstrumentedDriver)(store, spec.capabilities ?? FULL);
    drivers[name] = driver;
    const settings = spec.hostedKeys ? { ...local.settings, hosted_keys: spec.hostedKeys } : local.settings;
    const config: BackendConfig<DriverDefinition> = {
      ...local,
      name,
      settings,
      accessMode: spec.accessMode ?? "read_and_write",
      at: `secretgate.backends.${name}`,
    };
    return bedBackend(config, driver, logger);
  });
  const serviceBackends = new Backends(backends, "source", []);
  const teams = new SqliteTeamSettingsStore(databases[0]!);
  const service = new SecretService({
    config: {
      ...template,
      backends: backends.map((backend) => ({ ...local, name: backend.name })),
      defaultBackend: "source",
    },
    backends: serviceBackends,
    teams,
    env: {},
    logger,
  });
  return {
    service,
    admin: new AdminService({ backends: serviceBackends, teams, identities: [], audit: noAuditFeed }),
    drivers,
    close: () => {
      for (const database of databases) database.close();
      for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const noAuditFeed = {
  subscribe: () => {
    throw new Error("this bed has no audit feed");
  },
};

let bed: Bed;
beforeEach(async () => {
  bed = await startBed();
});
afterEach(() => bed.close());

const put = (
  backend: string,
  name: string,
  value: SecretPayload,
  metadata: { description?: string; tags?: Record<string, string> } = {},
) =>
  bed.drivers[backend]!.store.write({
    name,
    value,
    tags: metadata.tags ?? {},
    ...(metadata.description !== undefined ? { description: metadata.description } : {}),
  });
const held = (backend: string, name: string) => bed.drivers[backend]!.store.read(name);
const metadataIn = (backend: string, name: string) => bed.drivers[backend]!.store.describe(name);

function plan(
  fromBackend: string,
  toBackend: string,
  init: { match?: string[]; deleteSource?: boolean } = {},
  context = admin,
) {
  return bed.admin.planMigration(create(PlanMigrationRequestSchema, { fromBackend, toBackend, ...init }), context);
}

function migrate(
  fromBackend: string,
  toBackend: string,
  name: string,
  init: { dryRun?: boolean; deleteSource?: boolean } = {},
  context = admin,
): Promise<MigrateSecretResponse> {
  return bed.admin.migrateSecret(
    create(MigrateSecretRequestSchema, { fromBackend, toBackend, name, ...init }),
    context,
  );
}

describe("PlanMigration", () => {
  it("lists what the source holds, matched by any of the globs, sorted; deleted secrets left out", async () => {
    for (const name of ["OPENAI_API_KEY", "litellm/vk-2", "ANTHROPIC_API_KEY", "litellm/vk-1", "GONE"])
      await put("source", name, { text: `sk-${name}-value` });
    await bed.drivers.source!.store.delete("GONE");
    expect((await plan("source", "target")).names).toEqual([
      "ANTHROPIC_API_KEY",
      "OPENAI_API_KEY",
      "litellm/vk-1",
      "litellm/vk-2",
    ]);
    expect((await plan("source", "target", { match: ["litellm/*", "OPENAI_*"] })).names).toEqual([
      "OPENAI_API_KEY",
      "litellm/vk-1",
      "litellm/vk-2",
    ]);
    // The one glob matcher: anchored, case-sensitive, `?` one character.
    expect((await plan("source", "target", { match: ["litellm/vk-?", "openai_*"] })).names).toEqual([
      "litellm/vk-1",
      "litellm/vk-2",
    ]);
  });

  it("lists only the names the admin's read rules allow", async () => {
    for (const name of ["team-a/KEY", "team-b/KEY"]) await put("source", name, { text: "sk-team-value" });
    const limited = caller({ admin: true, read: ["team-a/*"], write: ["*"], teams: ["*"] });
    expect((await plan("source", "target", {}, limited)).names).toEqual(["team-a/KEY"]);
  });

  it("refuses callers that are not admins, back ends they may not use, and admins bound to their teams (a migration works in the global location)", async () => {
    const reader = caller({ read: ["*"], write: ["*"], delete: ["*"], teams: ["*"] });
    expect(await serviceFailure(plan("source", "target", {}, reader))).toMatchObject({
      code: Code.PermissionDenied,
      message: "caller may not migrate secrets (needs admin)",
    });
    const fenced = caller({ admin: true, read: ["*"], write: ["*"], teams: ["*"], backends: ["source"] });
    expect(await serviceFailure(plan("source", "target", {}, fenced))).toMatchObject({
      code: Code.PermissionDenied,
      message: "caller may not use back end target",
    });
    const bound = caller({ admin: true, read: ["*"], write: ["*"], delete: ["*"], teams: ["team-a"] });
    for (const refused of [plan("source", "target", {}, bound), migrate("source", "target", "ANY", {}, bound)]) {
      expect(await serviceFailure(refused)).toMatchObject({
        code: Code.PermissionDenied,
        message: "caller may not migrate secrets in the global location: its rules bind it to its teams",
      });
    }
    // Rules without teams act in the global location only, as their data calls do.
    expect((await plan("source", "target", {}, caller({ admin: true, read: ["*"], write: ["*"] }))).names).toEqual([]);
  });

  it("reads the source as Read does: a write_only source is refused, and names Read would not serve are left out, each with why", async () => {
    expect(await serviceFailure(plan("writeonly", "target"))).toMatchObject({
      code: Code.FailedPrecondition,
      message: expect.stringMatching(/^Migrating from writeonly is refused: access_mode is write_only/),
    });
    expect(await serviceFailure(migrate("writeonly", "target", "ANY"))).toMatchObject({
      code: Code.FailedPrecondition,
    });
    for (const name of ["OPENAI_API_KEY", "COHERE_API_KEY", "litellm/vk-1"])
      await put("hosted", name, { text: `sk-${name}-hosted` });
    const planned = await plan("hosted", "target");
    expect(planned.names).toEqual(["OPENAI_API_KEY", "litellm/vk-1"]);
    expect(planned.leftOut.map(({ name, reason }) => [name, reason])).toEqual([
      ["COHERE_API_KEY", "it is not in hosted_keys"],
    ]);
    expect(await serviceFailure(migrate("hosted", "target", "COHERE_API_KEY"))).toMatchObject({
      code: Code.FailedPrecondition,
      message:
        'hosted does not serve "COHERE_API_KEY" to Read (it is not in hosted_keys), so a migration leaves it where it is',
    });
    expect(bed.drivers.target!.calls.write).toBe(0);
    expect(await migrate("hosted", "target", "litellm/vk-1")).toMatchObject({ outcome: MigrationOutcome.COPIED });
  });

  it.each([
    ["", "target", "from_backend must name a back end"],
    ["source", "", "to_backend must name a back end"],
    ["nowhere", "target", 'from_backend "nowhere" is not a configured back end'],
    ["source", "source", "to_backend names source, which is from_backend too: a migration copies to another back end"],
  ])("refuses from %j to %j with INVALID_ARGUMENT naming the field", async (from, to, message) => {
    expect(await serviceFailure(plan(from, to))).toMatchObject({ code: Code.InvalidArgument, message });
  });

  it("refuses a source that cannot list, a destination that cannot take writes, and delete_source on a source that cannot delete", async () => {
    expect(await serviceFailure(plan("kms", "target"))).toMatchObject({
      code: Code.FailedPrecondition,
      message: "kms cannot list the secrets it holds, so there is nothing to migrate from it",
    });
    expect(await serviceFailure(plan("source", "readonly"))).toMatchObject({
      code: Code.FailedPrecondition,
      message: expect.stringMatching(/^Copying to readonly is refused: access_mode is read_only/),
    });
    expect(await serviceFailure(plan("source", "kms"))).toMatchObject({
      code: Code.FailedPrecondition,
      message: "Copying to kms is refused: kms only decrypts values held in the environment",
    });
    expect(await serviceFailure(plan("readonly", "target", { deleteSource: true }))).toMatchObject({
      code: Code.FailedPrecondition,
      message: expect.stringMatching(/^Deleting from readonly \(delete_source\) is refused: access_mode is read_only/),
    });
    // Without delete_source a read-only source is fine: a migration only reads it.
    expect((await plan("readonly", "target")).names).toEqual([]);
  });

  it("refuses bad globs naming the field, and a source listing that fails naming the back end", async () => {
    expect(await serviceFailure(plan("source", "target", { match: [""] }))).toMatchObject({
      code: Code.InvalidArgument,
      message: "match[0] must not be empty",
    });
    expect(await serviceFailure(plan("source", "target", { match: ["x".repeat(513)] }))).toMatchObject({
      message: "match[0] is 513 characters long; the limit is 512",
    });
    expect(
      await serviceFailure(
        plan("source", "target", { match: Array.from({ length: 101 }, (_, index) => `G${index}*`) }),
      ),
    ).toMatchObject({ message: "match lists 101 globs; the limit is 100" });
    bed.drivers.source!.list = async () => {
      throw new Error("connection reset");
    };
    expect(await serviceFailure(plan("source", "target"))).toMatchObject({
      code: Code.Unavailable,
      message: "cannot list source: connection reset",
    });
  });

  it(`handles at most ${MAX_MIGRATED_NAMES} names: more is INVALID_ARGUMENT asking for narrower globs`, async () => {
    const names = Array.from({ length: MAX_MIGRATED_NAMES + 1 }, (_, index) => `KEY_${String(index).padStart(5, "0")}`);
    bed.drivers.source!.list = async () => names;
    expect(await serviceFailure(plan("source", "target"))).toMatchObject({
      code: Code.InvalidArgument,
      message: `match selects ${MAX_MIGRATED_NAMES + 1} secrets in source; one migration handles at most ${MAX_MIGRATED_NAMES}: narrow it with more specific globs`,
    });
    expect((await plan("source", "target", { match: ["KEY_00*"] })).names).toHaveLength(1000);
  });
});

describe("MigrateSecret", () => {
  it("copies the value, description and tags, reads the copy back from the destination, then finds it unchanged", async () => {
    await put(
      "source",
      "OPENAI_API_KEY",
      { text: "sk-openai-original" },
      { description: "prod key", tags: { owner: "ml", env: "prod" } },
    );
    const copied = await migrate("source", "target", "OPENAI_API_KEY");
    expect(copied).toMatchObject({
      name: "OPENAI_API_KEY",
      outcome: MigrationOutcome.COPIED,
      overwritten: false,
      notKept: [],
      sourceDeleted: false,
      version: "1",
    });
    expect((await held("target", "OPENAI_API_KEY"))?.text).toBe("sk-openai-original");
    expect(await metadataIn("target", "OPENAI_API_KEY")).toEqual({
      description: "prod key",
      tags: { owner: "ml", env: "prod" },
    });
    // Verified from the back end itself, not the cache: one read before the write, one after.
    expect(bed.drivers.target!.calls.read).toBe(2);
    expect((await held("source", "OPENAI_API_KEY"))?.text).toBe("sk-openai-original");

    const writes = bed.drivers.target!.calls.write;
    expect(await migrate("source", "target", "OPENAI_API_KEY")).toMatchObject({
      outcome: MigrationOutcome.UNCHANGED,
      overwritten: false,
      version: "1",
    });
    expect(bed.drivers.target!.calls.write).toBe(writes);
  });

  it("reads past the caches: it neither joins the reads under way nor leaves its answers there", async () => {
    await put("source", "UNCACHED", { text: "sk-uncached-value" });
    expect(await migrate("source", "target", "UNCACHED")).toMatchObject({ outcome: MigrationOutcome.COPIED });
    // A proxy's first read of either copy goes to the back end: the migration cached nothing.
    const results = (
      await bed.service.read(create(ReadRequestSchema, { names: ["source://UNCACHED", "target://UNCACHED"] }), admin)
    ).results;
    expect(results.map((result) => [result.value, result.fromCache])).toEqual([
      ["sk-uncached-value", false],
      ["sk-uncached-value", false],
    ]);
  });

  it("overwrites a destination that holds another value or other metadata, and says so", async () => {
    await put("source", "KEY", { text: "sk-new-value-1" }, { description: "current" });
    await put("target", "KEY", { text: "sk-stale-value" }, { description: "current" });
    expect(await migrate("source", "target", "KEY")).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      overwritten: true,
      version: "2",
    });
    expect((await held("target", "KEY"))?.text).toBe("sk-new-value-1");

    // Same value, different tag: the metadata alone is copied again.
    await put("source", "KEY", { text: "sk-new-value-1" }, { description: "current", tags: { team: "a" } });
    expect(await migrate("source", "target", "KEY")).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      overwritten: true,
    });
    expect(await metadataIn("target", "KEY")).toEqual({ description: "current", tags: { team: "a" } });
  });

  it("copies a binary value byte for byte, and a text-only destination refuses it before writing", async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255, 10]);
    await put("source", "BLOB", { binary: bytes });
    expect(await migrate("source", "target", "BLOB")).toMatchObject({ outcome: MigrationOutcome.COPIED });
    expect((await held("target", "BLOB"))?.binary).toEqual(bytes);
    expect(await migrate("source", "target", "BLOB")).toMatchObject({ outcome: MigrationOutcome.UNCHANGED });

    const refused = await serviceFailure(migrate("source", "textonly", "BLOB"));
    expect(refused).toMatchObject({
      code: Code.FailedPrecondition,
      message: '"BLOB" holds a binary value, which textonly cannot keep (it stores text only)',
    });
    expect(bed.drivers.textonly!.calls.write).toBe(0);
  });

  it("tells a text value from binary bytes that spell it", async () => {
    await put("source", "SAME_BYTES", { text: "sk-bytes-or-text" });
    await put("target", "SAME_BYTES", { binary: new Uint8Array(Buffer.from("sk-bytes-or-text")) });
    expect(await migrate("source", "target", "SAME_BYTES")).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      overwritten: true,
    });
    expect(await held("target", "SAME_BYTES")).toMatchObject({ text: "sk-bytes-or-text" });
  });

  it("copies the metadata a destination can keep and names what it cannot; AWS system tags are never copied", async () => {
    await put(
      "source",
      "KEY",
      { text: "sk-metadata-1" },
      { description: "prod key", tags: { owner: "ml", "aws:cloudformation:stack-name": "s", "AWS:Other": "x" } },
    );
    expect(await migrate("source", "tagsonly", "KEY")).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      notKept: ["description"],
    });
    expect(await metadataIn("tagsonly", "KEY")).toEqual({ tags: { owner: "ml" } });
    // What it cannot keep is not a difference: the rerun finds it unchanged.
    expect(await migrate("source", "tagsonly", "KEY")).toMatchObject({
      outcome: MigrationOutcome.UNCHANGED,
      notKept: ["description"],
    });

    expect(await migrate("source", "bare", "KEY")).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      notKept: ["description", "tags"],
    });
    expect(bed.drivers.bare!.calls.describe).toBe(0);
    expect(await migrate("source", "bare", "KEY")).toMatchObject({ outcome: MigrationOutcome.UNCHANGED });

    // Only AWS system tags: nothing to copy, nothing to report.
    await put("source", "SYSTEM_TAGS", { text: "sk-metadata-2" }, { tags: { "aws:createdBy": "x" } });
    expect(await migrate("source", "bare", "SYSTEM_TAGS")).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      notKept: [],
    });
  });

  it("keeps a destination's extra tags and description: only what it copies must match, and a copy that overwrites keeps them", async () => {
    await put("source", "KEY", { text: "sk-extra-tags" }, { tags: { owner: "ml" } });
    await put("target", "KEY", { text: "sk-extra-tags" }, { tags: { owner: "ml", added: "by-dual-write" } });
    expect(await migrate("source", "target", "KEY")).toMatchObject({ outcome: MigrationOutcome.UNCHANGED });
    await put(
      "target",
      "KEY",
      { text: "sk-other-value" },
      { description: "the destination's", tags: { owner: "ops", added: "by-dual-write" } },
    );
    expect(await migrate("source", "target", "KEY")).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      overwritten: true,
    });
    expect(await metadataIn("target", "KEY")).toEqual({
      description: "the destination's",
      tags: { owner: "ml", added: "by-dual-write" },
    });
  });

  it("refuses before writing anything when a destination cannot change the metadata of a secret it holds, as PlanMigration said beforehand", async () => {
    expect((await plan("source", "creation")).existingMetadata).toBe(ExistingMetadata.REFUSED);
    expect((await plan("source", "target")).existingMetadata).toBe(ExistingMetadata.REWRITTEN);
    expect((await plan("source", "bare")).existingMetadata).toBe(ExistingMetadata.NOT_KEPT);
    await put("source", "KEY", { text: "sk-created-1" }, { description: "new description" });
    await put("creation", "KEY", { text: "sk-created-0" }, { description: "old description" });
    for (const dryRun of [true, false]) {
      const failure = await serviceFailure(migrate("source", "creation", "KEY", { dryRun }));
      expect(failure).toMatchObject({
        code: Code.FailedPrecondition,
        message:
          "creation holds \"KEY\" with a description other than source's, and cannot change an existing secret's metadata: delete it there and migrate again (nothing was written)",
      });
      expect(failure.message).not.toContain("sk-created");
    }
    expect(bed.drivers.creation!.calls.write).toBe(0);
    expect((await held("creation", "KEY"))?.text).toBe("sk-created-0");
    // Where the metadata matches, only the value is copied.
    await put("source", "SAME_METADATA", { text: "sk-created-2" });
    await put("creation", "SAME_METADATA", { text: "sk-created-3" });
    expect(await migrate("source", "creation", "SAME_METADATA")).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      overwritten: true,
    });
  });

  it("fails quoting the destination's warning when it stored the value but not the metadata", async () => {
    await put("source", "KEY", { text: "sk-tags-refused" }, { tags: { owner: "ml" } });
    expect(await serviceFailure(migrate("source", "notags", "KEY"))).toMatchObject({
      code: Code.FailedPrecondition,
      message:
        'copied "KEY" to notags, but reading it back showed tag "owner" other than source\'s: notags said: the value was stored but its tags were not: permission denied',
    });
    await put("source", "UNTAGGED", { text: "sk-no-tags" });
    expect(await migrate("source", "notags", "UNTAGGED")).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      warnings: [],
    });
  });

  it("passes on the warnings of a copy that verified", async () => {
    await put("source", "KEY", { text: "sk-replicated" });
    expect(await migrate("source", "replicas", "KEY")).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      warnings: ['replication of "KEY" to eu-west-1 failed: no access'],
    });
    expect(await migrate("source", "replicas", "KEY")).toMatchObject({
      outcome: MigrationOutcome.UNCHANGED,
      warnings: [],
    });
  });

  it("a dry run changes nothing and says what would be copied or overwritten", async () => {
    await put("source", "NEW", { text: "sk-dry-run-new" });
    await put("source", "DIFFERENT", { text: "sk-dry-run-different" });
    await put("target", "DIFFERENT", { text: "sk-dry-run-other" });
    await put("source", "SAME", { text: "sk-dry-run-same" });
    await put("target", "SAME", { text: "sk-dry-run-same" });
    const outcomes = await Promise.all(
      ["NEW", "DIFFERENT", "SAME"].map((name) =>
        migrate("source", "target", name, { dryRun: true, deleteSource: true }),
      ),
    );
    expect(
      outcomes.map((outcome) => [
        outcome.name,
        outcome.outcome,
        outcome.overwritten,
        outcome.sourceDeleted,
        outcome.version,
      ]),
    ).toEqual([
      ["NEW", MigrationOutcome.WOULD_COPY, false, false, ""],
      ["DIFFERENT", MigrationOutcome.WOULD_COPY, true, false, ""],
      ["SAME", MigrationOutcome.UNCHANGED, false, false, "1"],
    ]);
    expect(bed.drivers.target!.calls.write + bed.drivers.target!.calls.delete + bed.drivers.source!.calls.delete).toBe(
      0,
    );
    expect(await held("target", "NEW")).toBeUndefined();
    expect(await serviceFailure(migrate("source", "textonly", "NONE", { dryRun: true }))).toMatchObject({
      code: Code.NotFound,
    });
  });

  it("with delete_source deletes the source (keeping its recovery window) only after the copy verified", async () => {
    await put("source", "MOVED", { text: "sk-moved-value" });
    expect(await migrate("source", "target", "MOVED", { deleteSource: true })).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      sourceDeleted: true,
    });
    expect(bed.drivers.source!.deletes).toEqual([{ name: "MOVED", force: false }]);
    expect(await held("source", "MOVED")).toBeUndefined();

    await put("source", "ALREADY", { text: "sk-already-there" });
    await put("target", "ALREADY", { text: "sk-already-there" });
    expect(await migrate("source", "target", "ALREADY", { deleteSource: true })).toMatchObject({
      outcome: MigrationOutcome.UNCHANGED,
      sourceDeleted: true,
    });

    // A copy that does not verify leaves the source alone.
    await put("source", "GARBLED", { text: "sk-garbled-value" });
    let written = false;
    bed.drivers.target!.intercept = (operation, name) => {
      if (operation === "write") written = true;
      if (operation === "read" && name === "GARBLED" && written)
        return { answer: { text: "sk-something-else", version: "9" } };
    };
    const failure = await serviceFailure(migrate("source", "target", "GARBLED", { deleteSource: true }));
    expect(failure).toMatchObject({
      code: Code.Aborted,
      message:
        'copied "GARBLED" to target, but reading it back showed a different value (another writer may have changed it meanwhile): the source was left as it is',
    });
    expect((await held("source", "GARBLED"))?.text).toBe("sk-garbled-value");
    expect(bed.drivers.source!.deletes.map((entry) => entry.name)).toEqual(["MOVED", "ALREADY"]);
  });

  it("says what it did when deleting the source fails after the copy verified", async () => {
    await put("source", "STUCK", { text: "sk-stuck-value" });
    bed.drivers.source!.intercept = (operation) => {
      if (operation === "delete") throw Object.assign(new Error("throttled"), {});
    };
    const failure = await serviceFailure(migrate("source", "target", "STUCK", { deleteSource: true }));
    expect(failure).toMatchObject({
      code: Code.Unavailable,
      message: 'copied "STUCK" to target and verified it, but could not delete it from source: throttled',
    });
    expect((await held("target", "STUCK"))?.text).toBe("sk-stuck-value");
  });

  it("copies again when the source changes while it is copied, so a write racing the copy is never lost", async () => {
    await put("source", "RACED", { text: "sk-before-the-race" });
    let raced = false;
    bed.drivers.target!.intercept = async (operation, name) => {
      // A proxy's dual_write lands in both back ends between the migration's read and its write.
      if (operation === "write" && name === "RACED" && !raced) {
        raced = true;
        await put("source", "RACED", { text: "sk-written-meanwhile" });
        await put("target", "RACED", { text: "sk-written-meanwhile" });
      }
    };
    // The migration's write of the old value landed last; reading the source again caught it.
    expect(await migrate("source", "target", "RACED")).toMatchObject({
      outcome: MigrationOutcome.COPIED,
      overwritten: true,
    });
    expect((await held("target", "RACED"))?.text).toBe("sk-written-meanwhile");
    expect(bed.drivers.target!.calls.write).toBe(2);
  });

  it("gives up with ABORTED when the source changes during every copy", async () => {
    await put("source", "BUSY", { text: "sk-busy-0" });
    let writes = 0;
    bed.drivers.target!.intercept = async (operation) => {
      if (operation === "write") await put("source", "BUSY", { text: `sk-busy-${++writes}` });
    };
    expect(await serviceFailure(migrate("source", "target", "BUSY"))).toMatchObject({
      code: Code.Aborted,
      message: '"BUSY" changed in source during each of 3 copies; migrate it again once writes to it settle',
    });
    expect(writes).toBe(3);
  });

  it("removes its copy again when the source's secret is deleted while it is copied (a revoked key stays revoked)", async () => {
    await put("source", "REVOKED", { text: "sk-revoked-key" });
    bed.drivers.target!.intercept = async (operation) => {
      if (operation === "write") await bed.drivers.source!.store.delete("REVOKED");
    };
    const failure = await serviceFailure(migrate("source", "target", "REVOKED"));
    expect(failure).toMatchObject({
      code: Code.NotFound,
      message: '"REVOKED" was deleted from source while it was copied, so its copy was removed from target again',
    });
    expect(await held("target", "REVOKED")).toBeUndefined();
  });

  it("reports a name the source no longer holds as NOT_FOUND, and checks the caller's rules for the name", async () => {
    expect(await serviceFailure(migrate("source", "target", "NEVER_THERE"))).toMatchObject({
      code: Code.NotFound,
      message: 'source does not hold "NEVER_THERE" (any more)',
    });
    await put("source", "ruled/KEY", { text: "sk-ruled-value" });
    const limited = caller({ admin: true, read: ["*"], write: ["other/*"], teams: ["*"] });
    expect(await serviceFailure(migrate("source", "target", "ruled/KEY", {}, limited))).toMatchObject({
      code: Code.PermissionDenied,
      message: 'caller may not write "ruled/KEY"',
    });
    const noDelete = caller({ admin: true, read: ["*"], write: ["*"], teams: ["*"] });
    expect(
      await serviceFailure(migrate("source", "target", "ruled/KEY", { deleteSource: true }, noDelete)),
    ).toMatchObject({ code: Code.PermissionDenied, message: 'caller may not delete "ruled/KEY"' });
    expect(await serviceFailure(migrate("source", "target", "a/../b"))).toMatchObject({
      code: Code.InvalidArgument,
      message: "name \"a/../b\" contains a '..' path segment",
    });
    expect(bed.drivers.target!.calls.write).toBe(0);
  });

  it("stops at the caller's deadline with DEADLINE_EXCEEDED", async () => {
    await put("source", "SLOW", { text: "sk-slow-value" });
    bed.drivers.target!.latencyMs = 10_000;
    const failure = await serviceFailure(
      migrate("source", "target", "SLOW", {}, { ...admin, deadline: Date.now() + 50 }),
    );
    expect(failure.code).toBe(Code.DeadlineExceeded);
  });
});
