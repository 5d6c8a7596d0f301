import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ServiceError } from "../../src/core/errors.js";
import type { DriverCall, DriverCapabilities, DriverWriteResult, SecretDriver } from "../../src/drivers/driver.js";

/**
 * What a back end's test file hands the conformance suite: how to make a driver pointed at
 * its emulator, and what the back end is declared to support. A driver is done when this
 * suite passes against it (gocloud.dev's drivertest, for secretgate).
 */
export interface DriverHarness {
  /** Makes a driver connected to a running emulator (or the real store). */
  makeDriver(): Promise<SecretDriver>;
  /** Stops what makeDriver started. */
  close(): Promise<void>;
  /** Team settings to pass with every call (e.g. a project or mount). */
  team?: Record<string, unknown>;
  /** Whether names with non-ASCII characters are stored as given (else refused with INVALID_ARGUMENT). */
  unicodeNames: boolean;
  /** What the back end's definition declares it can do (DriverDefinition.capabilities): the suite holds the driver to it. */
  capabilities: DriverCapabilities;
  /** Whether `a/b` style names are stored as given (else refused with INVALID_ARGUMENT). */
  slashNames: boolean;
  /**
   * Whether a name deleted without `force` can be written again at once. False for back ends
   * with a recovery window the driver cannot skip without `force`.
   */
  rewriteAfterSoftDelete?: boolean;
  /**
   * Whether a delete without `force` leaves the secret recoverable in the back end (a recovery
   * window, soft delete): a write after it then restores the secret rather than creating it.
   */
  recoverableDelete: boolean;
  /**
   * The largest value the back end stores, in bytes, when below 64 KiB (Azure Key Vault: 25 KB).
   * Such a driver must refuse larger values with INVALID_ARGUMENT and round-trip one of this size.
   */
  maxValueBytes?: number;
  /** The back end lists its names (`capabilities.list`): a driver that stops listing fails the suite. */
  lists?: boolean;
  /**
   * The most names one list request returns, as this harness set the back end up (a page): the
   * suite stores more than that, so the driver must follow pages.
   */
  listPageSize?: number;
  /** A second team's settings that put its secrets elsewhere (another namespace, mount, branch, …). */
  otherTeam?: Record<string, unknown>;
  /**
   * The metadata the back end keeps (`capabilities.metadata`, reported by `describe`), and what a
   * write to an existing secret does to each part (docs/backends/README.md). A part left out is not
   * kept; no `metadata` at all: neither is, and the driver has no `describe`.
   */
  metadata?: { description?: OnRewrite; tags?: OnRewrite };
  /**
   * How the back end takes back one version a write created (`capabilities.versionRemoval`,
   * Rotate's roll-back; docs/operations.md): absent where it has no call naming one version.
   */
  versionRemoval?: "destroy" | "disable";
}

/**
 * What a write to an existing secret does to its description or tags: `replaced` by the write's
 * own (none when it has none), `keptFromCreation` (only the write that created the secret sets
 * them), or `replacedUnlessNone` (replaced by the write's tags, kept when it has none).
 */
export type OnRewrite = "replaced" | "keptFromCreation" | "replacedUnlessNone";

export const SIXTY_FOUR_KIB = 64 * 1024;

export function runDriverConformance(backend: string, harness: DriverHarness): void {
  describe(`driver conformance: ${backend}`, () => {
    let driver: SecretDriver;
    const call = (): DriverCall => ({ team: harness.team ?? {}, signal: AbortSignal.timeout(20_000) });
    const unique = (base: string) => `conf-${base}-${randomUUID().slice(0, 8)}`;
    const writeText = (name: string, text: string) => driver.write({ name, value: { text }, tags: {} }, call());

    beforeAll(async () => {
      driver = await harness.makeDriver();
    });
    afterAll(async () => {
      await driver?.close();
      await harness.close();
    });

    it("has exactly the optional calls its declared capabilities say", () => {
      const { capabilities } = harness;
      expect({
        list: driver.list !== undefined && capabilities.list,
        describe: driver.describe !== undefined,
        removeWrittenVersion: driver.removeWrittenVersion !== undefined,
      }).toEqual({
        list: capabilities.list,
        describe: capabilities.metadata !== undefined,
        removeWrittenVersion: capabilities.versionRemoval !== undefined,
      });
    });

    it("reads back what it wrote, with a version", async () => {
      const name = unique("roundtrip");
      const written = await writeText(name, "sk-conformance-1");
      expect(written.version).not.toBe("");
      const read = await driver.read(name, call());
      expect(read).toMatchObject({ text: "sk-conformance-1", version: written.version });
    });

    it("makes a new version on overwrite and reads the newest", async () => {
      const name = unique("overwrite");
      const first = await writeText(name, "value-one");
      const second = await writeText(name, "value-two");
      expect(second.version).not.toBe(first.version);
      expect(await driver.read(name, call())).toMatchObject({ text: "value-two", version: second.version });
    });

    it("reports a missing name as undefined, not an empty value", async () => {
      expect(await driver.read(unique("missing"), call())).toBeUndefined();
    });

    it("deletes, after which the name reads as missing", async () => {
      const name = unique("delete");
      await writeText(name, "doomed");
      const deleted = await driver.delete(name, { force: false }, call());
      expect(deleted).toBeDefined();
      expect(await driver.read(name, call())).toBeUndefined();
    });

    it("reports a delete of a missing name as undefined", async () => {
      expect(await driver.delete(unique("never"), { force: false }, call())).toBeUndefined();
    });

    // Rotate's roll-back removes a name only when its own write created it: a driver that says
    // "created" for an existing secret lets a roll-back delete what another caller stored.
    it("says a write created the secret only when the name held none", async () => {
      const name = unique("created");
      expect((await writeText(name, "first")).created).toBe(true);
      expect((await writeText(name, "second")).created).toBe(false);
    });

    it(`reports a write after a default delete as ${harness.recoverableDelete ? "restoring (not creating) the recoverable secret" : "creating the secret again"}`, async () => {
      const name = unique("recreated");
      await writeText(name, "before");
      expect(await driver.delete(name, { force: false }, call())).toEqual({ recoverable: harness.recoverableDelete });
      if (harness.rewriteAfterSoftDelete === false) return;
      expect((await writeText(name, "after")).created).toBe(!harness.recoverableDelete);
    });

    it("makes a force-deleted name reusable at once", async () => {
      const name = unique("reuse");
      await writeText(name, "first life");
      expect(await driver.delete(name, { force: true }, call())).toMatchObject({ recoverable: false });
      expect((await writeText(name, "second life")).created).toBe(true);
      expect(await driver.read(name, call())).toMatchObject({ text: "second life" });
    });

    it("writes again after a default delete (restoring where the back end keeps a recovery window)", async () => {
      const name = unique("restore");
      await writeText(name, "before");
      await driver.delete(name, { force: false }, call());
      if (harness.rewriteAfterSoftDelete === false) {
        await expect(writeText(name, "after")).rejects.toBeDefined();
        return;
      }
      await writeText(name, "after");
      expect(await driver.read(name, call())).toMatchObject({ text: "after" });
    });

    it(`${harness.slashNames ? "stores" : "refuses"} names with '/'`, async () => {
      const name = `${unique("path")}/nested/key`;
      if (harness.slashNames) {
        await writeText(name, "slashed");
        expect(await driver.read(name, call())).toMatchObject({ text: "slashed" });
      } else {
        await expectInvalidArgument(driver, () => writeText(name, "slashed"));
      }
    });

    it(`${harness.unicodeNames ? "stores" : "refuses"} names with non-ASCII characters`, async () => {
      const name = unique("ключ-密钥-ü");
      if (harness.unicodeNames) {
        await writeText(name, "unicode name");
        expect(await driver.read(name, call())).toMatchObject({ text: "unicode name" });
      } else {
        await expectInvalidArgument(driver, () => writeText(name, "unicode name"));
      }
    });

    // Names that every JavaScript object already has as members: a driver or emulator that keeps
    // secrets or parses responses in plain objects would find them before anything is written.
    it("treats names like constructor, toString and __proto__ as ordinary names", async () => {
      for (const name of ["constructor", "toString", "hasOwnProperty", "__proto__"]) {
        await driver.delete(name, { force: true }, call()); // left over from an earlier run against the same store
        expect(await driver.read(name, call()), name).toBeUndefined();
        expect(await driver.delete(name, { force: false }, call()), name).toBeUndefined();
        const written = await writeText(name, `value of ${name}`);
        expect(await driver.read(name, call()), name).toMatchObject({
          text: `value of ${name}`,
          version: written.version,
        });
        await driver.delete(name, { force: true }, call());
        expect(await driver.read(name, call()), name).toBeUndefined();
      }
    });

    it("round-trips text with every kind of character", async () => {
      const name = unique("text");
      const text = 'line1\nline2\t"quoted" \\ ünïcödé 🔑 \u0000 end';
      await writeText(name, text);
      expect((await driver.read(name, call()))?.text).toBe(text);
    });

    const largest = Math.min(harness.maxValueBytes ?? SIXTY_FOUR_KIB, SIXTY_FOUR_KIB);
    it(`round-trips a ${largest === SIXTY_FOUR_KIB ? "64 KiB" : `${largest}-byte`} value`, async () => {
      const name = unique("large");
      const text = randomBytes(Math.ceil(largest / 2))
        .toString("hex")
        .slice(0, largest);
      expect(text.length).toBe(largest);
      await writeText(name, text);
      expect((await driver.read(name, call()))?.text).toBe(text);
    });

    if (largest < SIXTY_FOUR_KIB) {
      it("refuses a value above its back end's limit with INVALID_ARGUMENT", async () => {
        await expectInvalidArgument(driver, () => writeText(unique("too-large"), "x".repeat(largest + 1)));
      });
    }

    it("round-trips binary values byte for byte, or declares it cannot", async () => {
      const name = unique("binary");
      const bytes = new Uint8Array([0, 1, 2, 127, 128, 254, 255, ...randomBytes(64)]);
      if (!harness.capabilities.binary) {
        // The core refuses binary values for such back ends before calling; nothing to store.
        expect(harness.capabilities.binary).toBe(false);
        return;
      }
      await driver.write({ name, value: { binary: bytes }, tags: {} }, call());
      const read = await driver.read(name, call());
      expect(read?.binary).toBeDefined();
      expect(Buffer.from(read!.binary!).equals(Buffer.from(bytes))).toBe(true);
    });

    it("handles concurrent writes to one name: each gets its own version, the last read is one of them", async () => {
      const name = unique("concurrent");
      const values = Array.from({ length: 8 }, (_, index) => `concurrent-${index}`);
      const results = await Promise.all(values.map((value) => writeText(name, value)));
      const versions = results.map((result) => result.version);
      expect(new Set(versions).size).toBe(values.length);
      // At most one of them found the name empty; saying "created" twice would be a lie.
      expect(results.filter((result) => result.created).length).toBeLessThanOrEqual(1);
      const read = await driver.read(name, call());
      expect(values).toContain(read?.text);
      expect(versions).toContain(read?.version);
    });

    it("lists stored names when it declares listing", async () => {
      const kept = unique("listed");
      const gone = unique("unlisted");
      await writeText(kept, "x");
      await writeText(gone, "y");
      await driver.delete(gone, { force: true }, call());
      if (!harness.capabilities.list) {
        expect(harness.lists, "the harness says this back end lists").not.toBe(true);
        expect(driver.list).toBeUndefined();
        return;
      }
      const names = await driver.list!(call());
      expect(names).toContain(kept);
      expect(names).not.toContain(gone);
    });

    it("lists more names than a page, nested ones too, and no deleted one, each as read accepts it", async () => {
      if (!harness.capabilities.list) {
        expect(harness.lists, "the harness says this back end lists").not.toBe(true);
        return;
      }
      const base = unique("paged");
      const count = (harness.listPageSize ?? 2) + 1;
      // `a` and `a/b/c` side by side: in Vault, one is a secret and the other a folder of the same name.
      const nested = harness.slashNames ? [`${base}/a`, `${base}/a/b/c`] : [];
      const names = [...nested, ...Array.from({ length: count - nested.length }, (_, index) => `${base}-${index}`)];
      const deleted = `${base}-deleted`;
      await Promise.all([...names, deleted].map((name) => writeText(name, `value of ${name}`)));
      await driver.delete(deleted, { force: false }, call());

      const listed = (await driver.list!(call())).filter((name) => name.startsWith(base));
      expect(listed.sort()).toEqual([...names].sort());
      for (const name of listed)
        expect(await driver.read(name, call()), name).toMatchObject({ text: `value of ${name}` });
    });

    if (harness.otherTeam) {
      it("lists a team's names apart from the default location's, as that team's reads accept them", async () => {
        const teamCall = (): DriverCall => ({ team: harness.otherTeam!, signal: AbortSignal.timeout(20_000) });
        const theirs = harness.slashNames ? `${unique("team")}/nested/key` : unique("team");
        const ours = unique("ours");
        await driver.write({ name: theirs, value: { text: "team value" }, tags: {} }, teamCall());
        await writeText(ours, "default value");
        const teamNames = await driver.list!(teamCall());
        expect(teamNames).toContain(theirs);
        expect(teamNames).not.toContain(ours);
        expect(await driver.list!(call())).not.toContain(theirs);
        expect(await driver.read(theirs, teamCall())).toMatchObject({ text: "team value" });
      });
    }

    it(`declares the metadata it keeps: ${describeKept(harness.metadata)}`, () => {
      const rules = harness.metadata && [harness.metadata.description, harness.metadata.tags];
      const kept = harness.metadata && {
        description: harness.metadata.description !== undefined,
        tags: harness.metadata.tags !== undefined,
        // Whether a write to an existing secret sets its metadata anew, as the rules below say.
        writesReplace: !rules!.includes("keptFromCreation"),
      };
      expect(harness.capabilities.metadata).toEqual(kept);
      expect(typeof driver.describe).toBe(kept ? "function" : "undefined");
      // Metadata kept from creation can be changed in place, or a migration could never bring it over.
      expect(typeof driver.updateMetadata).toBe(kept && !kept.writesReplace ? "function" : "undefined");
    });

    if (harness.metadata) {
      const kept = harness.metadata;
      const describeName = (name: string) => driver.describe!(name, call());
      const reported = (description: string | undefined, tags: Record<string, string>) => ({
        ...(kept.description && description !== undefined ? { description } : {}),
        tags: kept.tags ? tags : {},
      });
      type Metadata = { description: string; tags: Record<string, string> };
      const first: Metadata = {
        description: "virtual key of team a – ünïcode ok",
        tags: { team: "team-a", environment: "prod" },
      };
      const second: Metadata = { description: "moved to team b", tags: { team: "team-b", owner: "ml" } };
      const writeWith = (
        name: string,
        value: string,
        metadata: { description?: string; tags: Record<string, string> },
      ) => driver.write({ name, value: { text: value }, ...metadata }, call());

      it("describes what a write stored: its description and tags, never the value", async () => {
        const name = unique("described");
        await writeWith(name, "sk-described-value", first);
        const described = await describeName(name);
        expect(described).toEqual(reported(first.description, first.tags));
        expect(JSON.stringify(described)).not.toContain("sk-described-value");
      });

      it("describes a write without description or tags as having none: the driver's own tags are left out", async () => {
        const name = unique("bare");
        await writeText(name, "bare");
        expect(await describeName(name)).toEqual({ tags: {} });
      });

      it("describes a missing name, and a deleted one, as undefined", async () => {
        expect(await describeName(unique("never"))).toBeUndefined();
        const name = unique("described-deleted");
        await writeWith(name, "doomed", first);
        await driver.delete(name, { force: false }, call());
        expect(await describeName(name)).toBeUndefined();
      });

      it(`on a rewrite, ${describeRewrite(kept)}`, async () => {
        const name = unique("redescribed");
        await writeWith(name, "one", first);
        await writeWith(name, "two", second);
        const description = afterRewrite(kept.description, first.description, second.description);
        const tags = afterRewrite(kept.tags, first.tags, second.tags);
        expect(await describeName(name)).toEqual(reported(description, tags));
        await writeWith(name, "three", { tags: {} });
        expect(await describeName(name)).toEqual(
          reported(
            afterRewrite<string | undefined>(kept.description, description, undefined),
            afterRewrite(kept.tags, tags, {}),
          ),
        );
      });

      if (kept.description === "keptFromCreation" || kept.tags === "keptFromCreation") {
        it("changes a secret's metadata in place (updateMetadata): the description, the tags it names, no new version", async () => {
          const name = unique("updated-in-place");
          const written = await writeWith(name, "in place", first);
          await driver.updateMetadata!(
            name,
            { description: second.description, tags: { team: "team-b", owner: "ml" } },
            call(),
          );
          // Tags it does not name stay; the value and its version do not change.
          expect(await describeName(name)).toEqual(
            reported(second.description, { team: "team-b", environment: "prod", owner: "ml" }),
          );
          expect(await driver.read(name, call())).toMatchObject({ text: "in place", version: written.version });
          const missing = await driver.updateMetadata!(unique("never"), { tags: { a: "b" } }, call()).then(
            () => undefined,
            (error: unknown) => (error instanceof ServiceError ? error.code : driver.classifyError(error).code),
          );
          expect(missing).toBe(Code.NotFound);
        });
      }

      it("describes a force-deleted name written again with the new write's metadata only", async () => {
        const name = unique("redescribed-reuse");
        await writeWith(name, "first life", first);
        await driver.delete(name, { force: true }, call());
        await writeWith(name, "second life", second);
        expect(await describeName(name)).toEqual(reported(second.description, second.tags));
      });
    }

    it(`declares how it takes back one version a write created: ${harness.versionRemoval ?? "it cannot"}`, () => {
      expect(harness.capabilities.versionRemoval).toBe(harness.versionRemoval);
      expect(typeof driver.removeWrittenVersion).toBe(harness.versionRemoval ? "function" : "undefined");
    });

    if (harness.versionRemoval) {
      const removeWritten = (name: string, written: DriverWriteResult) =>
        driver.removeWrittenVersion!(name, written, call());
      /** What a read of `name` gives once its only version is taken back: nothing, or the back end's refusal — never a value. */
      const servesNoValue = async (name: string) => {
        const refusal = await driver.read(name, call()).then(
          (value) => {
            expect(value).toBeUndefined();
            return undefined;
          },
          (error: unknown) => (error instanceof ServiceError ? error.code : driver.classifyError(error).code),
        );
        if (refusal !== undefined) expect([Code.NotFound, Code.FailedPrecondition]).toContain(refusal);
      };

      it(`takes back (${harness.versionRemoval}s) the version a write created: the name serves no value, and takes a new one`, async () => {
        const name = unique("taken-back");
        const written = await writeText(name, "sk-taken-back");
        expect(written.created).toBe(true);
        expect(await removeWritten(name, written)).toBe(true);
        await servesNoValue(name);
        const again = await writeText(name, "sk-written-again");
        expect(await driver.read(name, call())).toMatchObject({ text: "sk-written-again", version: again.version });
      });

      it("never takes back another writer's version: one written after stays what reads return", async () => {
        const name = unique("not-theirs");
        const mine = await writeText(name, "sk-mine");
        const theirs = await writeText(name, "sk-theirs");
        expect(await removeWritten(name, mine)).toBe(true);
        expect(await driver.read(name, call())).toMatchObject({ text: "sk-theirs", version: theirs.version });
      });

      it("takes back nothing once the name was deleted and written anew, whatever version id the new secret got", async () => {
        const name = unique("reborn");
        const first = await writeText(name, "sk-first-life");
        await driver.delete(name, { force: true }, call());
        const second = await writeText(name, "sk-second-life");
        expect(second.created).toBe(true);
        expect(await removeWritten(name, first)).toBe(false);
        expect(await driver.read(name, call())).toMatchObject({ text: "sk-second-life", version: second.version });
      });
    }

    it("classifies an unknown failure without throwing", () => {
      const classified = driver.classifyError(new Error("something odd"));
      expect(typeof classified.code).toBe("number");
      expect(classified.message).not.toBe("");
    });
  });
}

async function expectInvalidArgument(driver: SecretDriver, run: () => Promise<unknown>): Promise<void> {
  const error = await run().then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error, "the back end accepted a name it declares it refuses").toBeDefined();
  const code = error instanceof ServiceError ? error.code : driver.classifyError(error).code;
  expect(code).toBe(Code.InvalidArgument);
}

function describeKept(metadata: DriverHarness["metadata"]): string {
  const parts = [metadata?.description && "description", metadata?.tags && "tags"].filter(Boolean);
  return parts.length === 0 ? "none" : parts.join(" and ");
}

function describeRewrite(metadata: NonNullable<DriverHarness["metadata"]>): string {
  return (["description", "tags"] as const)
    .filter((part) => metadata[part] !== undefined)
    .map((part) => {
      const rule = metadata[part];
      const what =
        rule === "replacedUnlessNone"
          ? "replaced, unless the rewrite has none"
          : rule === "replaced"
            ? "replaced"
            : "kept from creation";
      return `the ${part} ${part === "tags" ? "are" : "is"} ${what}`;
    })
    .join(", ");
}

/** The description or tags a secret holds after a rewrite, by the back end's rule. */
function afterRewrite<T>(rule: OnRewrite | undefined, before: T, rewrite: T): T {
  if (rule === "keptFromCreation") return before;
  if (
    rule === "replacedUnlessNone" &&
    (rewrite === undefined || (typeof rewrite === "object" && Object.keys(rewrite as object).length === 0))
  )
    return before;
  return rewrite;
}
