import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./server.js";

/**
 * The options `npm start` gives node (package.json's `serve` script). The bin's shebang and the
 * image's entry point carry the same ones (test/unit/project/launchers.test.ts); the benchmark starts the
 * server with them so its figures are the shipped server's.
 */
export function launchNodeArgs(): string[] {
  const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
  const command = /(?:^|&& )node ((?:--\S+ )*)dist\/src\/main\.js$/.exec(scripts.serve ?? "");
  if (!command) throw new Error(`package.json's serve script does not run node dist/src/main.js: ${scripts.serve}`);
  return command[1]!.split(" ").filter(Boolean);
}
