import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../helpers/server.js";

// One meaning per name (docs/development.md, "Names"): a type means one thing wherever it is
// imported from, and "manager" is LiteLLM's word, used only where LiteLLM's words are quoted.

function sources(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)))
    .sort();
}

const EXPORTED_TYPE = /^export (?:declare )?(?:abstract )?(?:class|interface|type|enum) ([A-Za-z_$][\w$]*)/gm;

describe("names", () => {
  it("gives no two exported types of src/ and of the service's API (gen/secretgate/) the same name", () => {
    // gen/grpc/ holds gRPC reflection's v1 and v1alpha: one protocol in two versions, named alike.
    const owners = new Map<string, string[]>();
    for (const file of [...sources("src"), ...sources("gen/secretgate")]) {
      for (const match of readFileSync(join(ROOT, file), "utf8").matchAll(EXPORTED_TYPE)) {
        owners.set(match[1]!, [...(owners.get(match[1]!) ?? []), file]);
      }
    }
    const twice = [...owners]
      .filter(([, files]) => files.length > 1)
      .map(([name, files]) => `${name}: ${files.join(", ")}`);
    expect(twice).toEqual([]);
  });

  it("says manager only where it quotes LiteLLM", () => {
    // The back ends' own product names hold the word: Secrets Manager, Secret Manager, and
    // OpenTelemetry's context manager.
    const products = /secrets?[ _-]?manager|contextmanager/gi;
    const found: string[] = [];
    for (const file of sources("src")) {
      readFileSync(join(ROOT, file), "utf8")
        .split("\n")
        .forEach((line, index) => {
          if (/manager/i.test(line.replace(products, "")) && !line.includes("LiteLLM"))
            found.push(`${file}:${index + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });
});
