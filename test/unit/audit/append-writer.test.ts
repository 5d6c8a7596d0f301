import { mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AppendWriter, type WriterHealth } from "../../../src/append-writer.js";
import { openPrivateFileForAppend } from "../../../src/storage/private-files.js";
import { eventually } from "../../helpers/eventually.js";

let dir: string | undefined;
const writers: AppendWriter[] = [];
afterEach(async () => {
  for (const writer of writers.splice(0)) await writer.close(0);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function writerOn(
  path: string,
  maxQueuedBytes = 1024 * 1024,
  sync = false,
): { writer: AppendWriter; health: WriterHealth[] } {
  const health: WriterHealth[] = [];
  const writer = new AppendWriter(openPrivateFileForAppend(path), {
    path,
    open: openPrivateFileForAppend,
    maxQueuedBytes,
    sync,
    onHealth: (changed) => health.push(changed),
  });
  writers.push(writer);
  return { writer, health };
}

const written = (writer: AppendWriter) => new Promise<Error | undefined>((resolve) => writer.whenWritten(resolve));

describe.each([
  ["from the thread pool", false],
  ["on the event loop (sync)", true],
])("AppendWriter writing %s", (_, sync) => {
  it("writes what is appended, in order, and says when it is written", async () => {
    dir = mkdtempSync(join(tmpdir(), "append-writer-"));
    const file = join(dir, "out.log");
    const { writer } = writerOn(file, 1024 * 1024, sync);
    for (let index = 0; index < 100; index++) writer.append(Buffer.from(`line ${index}\n`));
    expect(await written(writer)).toBeUndefined();
    expect(readFileSync(file, "utf8")).toBe(Array.from({ length: 100 }, (_, index) => `line ${index}\n`).join(""));
    expect(writer.queuedBytes).toBe(0);
  });

  it("on a device that refuses writes (ENOSPC), keeps the bytes, says so once, and writes them exactly once when the path takes writes again", async () => {
    dir = mkdtempSync(join(tmpdir(), "append-writer-"));
    const link = join(dir, "out.log");
    symlinkSync("/dev/full", link);
    const { writer, health } = writerOn(link, 1024 * 1024, sync);
    writer.append(Buffer.from("first\n"));
    const error = (await written(writer)) as NodeJS.ErrnoException;
    expect(error.code).toBe("ENOSPC");
    expect(writer.health).toMatchObject({ writing: false, error: "ENOSPC" });
    writer.append(Buffer.from("second\n"));
    // While failing, a caller is told at once.
    expect(((await written(writer)) as NodeJS.ErrnoException).code).toBe("ENOSPC");

    const real = join(dir, "real.log");
    writeFileSync(real, "");
    rmSync(link);
    symlinkSync(real, link);
    await eventually(async () => writer.health.writing, "the writer recovers by itself");
    expect(await written(writer)).toBeUndefined();
    expect(readFileSync(real, "utf8")).toBe("first\nsecond\n");
    expect(health.map((changed) => changed.writing)).toEqual([false, true]);
  });

  it("refuses what would pass its bound while it cannot write, keeping what it holds", async () => {
    dir = mkdtempSync(join(tmpdir(), "append-writer-"));
    const link = join(dir, "out.log");
    symlinkSync("/dev/full", link);
    const { writer } = writerOn(link, 10, sync);
    expect(writer.append(Buffer.from("12345678\n"))).toBe(true);
    expect(writer.append(Buffer.from("too much\n"))).toBe(false);
    expect(writer.queuedBytes).toBe(9);
  });

  it("reopens the path on request (rename, then reopen): what follows goes to the new file, nothing twice", async () => {
    dir = mkdtempSync(join(tmpdir(), "append-writer-"));
    const file = join(dir, "out.log");
    const { writer } = writerOn(file, 1024 * 1024, sync);
    writer.append(Buffer.from("before\n"));
    await written(writer);
    renameSync(file, `${file}.1`);
    writer.append(Buffer.from("in flight\n"));
    writer.reopen();
    writer.append(Buffer.from("after\n"));
    await written(writer);
    const rotated = readFileSync(`${file}.1`, "utf8");
    const current = readFileSync(file, "utf8");
    expect(`${rotated}${current}`).toBe("before\nin flight\nafter\n");
    expect(current.endsWith("after\n")).toBe(true);
  });
});
