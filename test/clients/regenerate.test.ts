import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../helpers/run-process.js";
import { ROOT } from "../helpers/server.js";

/** Every directory buf.gen.yaml and buf.gen.grpc.yaml write to, each holding generated files only. */
const GENERATED_DIRS = ["gen", "clients/typescript/src/gen", "clients/python/secretgate", "clients/go/secretgatev1"];

function filesUnder(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (current: string) => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "__pycache__") walk(path);
      } else {
        files.set(relative(dir, path), readFileSync(path, "utf8"));
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return files;
}

describe("generated clients", () => {
  const scratch = mkdtempSync(join(tmpdir(), "secretgate-regenerate-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("are exactly what npm run generate produces from proto/ (and gRPC's own protos) with the local plugins", async () => {
    for (const entry of ["buf.yaml", "buf.gen.yaml", "buf.gen.grpc.yaml", "proto"])
      cpSync(join(ROOT, entry), join(scratch, entry), { recursive: true });
    // buf.gen.grpc.yaml reads the health and reflection protos the installed packages ship.
    symlinkSync(join(ROOT, "node_modules"), join(scratch, "node_modules"));
    for (const template of ["buf.gen.yaml", "buf.gen.grpc.yaml"]) {
      const result = await run(join(ROOT, "node_modules", ".bin", "buf"), ["generate", "--template", template], {
        cwd: scratch,
        env: { ...process.env, PATH: `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH ?? ""}` },
      });
      expect(result.code, `${template}: ${result.stderr}`).toBe(0);
    }

    for (const dir of GENERATED_DIRS) {
      const committed = filesUnder(join(ROOT, dir));
      const regenerated = filesUnder(join(scratch, dir));
      expect(regenerated.size, `${dir} was not generated`).toBeGreaterThan(0);
      expect([...committed.keys()].sort(), `${dir}: files differ; run npm run generate`).toEqual(
        [...regenerated.keys()].sort(),
      );
      for (const [file, content] of regenerated) {
        expect(committed.get(file), `${dir}/${file} differs; run npm run generate`).toBe(content);
      }
    }
  }, 60_000);
});
