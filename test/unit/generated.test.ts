import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");
const output = mkdtempSync(join(tmpdir(), "secretgate-generate-"));
afterAll(() => rmSync(output, { recursive: true, force: true }));

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

it("regenerates every generated file from proto/ with no difference", async () => {
  await run("npx", ["buf", "generate", "--output", output], { cwd: ROOT });
  const generated = filesUnder(output);
  expect(generated.length).toBeGreaterThan(0);
  for (const file of generated) {
    const path = relative(output, file);
    expect(readFileSync(join(ROOT, path), "utf8"), `${path} is stale: run npm run generate`).toBe(readFileSync(file, "utf8"));
  }
});
