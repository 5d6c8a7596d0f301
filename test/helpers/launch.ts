import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./server.js";

/** The script `npm start` and the image run the server through (its allocator: scripts/with-jemalloc.sh). */
export const ALLOCATOR_SCRIPT = "scripts/with-jemalloc.sh";

/**
 * `npm start`'s server command line (package.json's `serve` script): the allocator script, then
 * node with its options.
 */
function serveCommand(): RegExpExecArray {
  const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> })
    .scripts;
  const command = /(?:^|&& )sh (\S+) node ((?:--\S+ )*)dist\/src\/main\.js$/.exec(scripts.serve ?? "");
  if (!command)
    throw new Error(
      `package.json's serve script does not run sh <allocator script> node dist/src/main.js: ${scripts.serve}`,
    );
  return command;
}

/**
 * The options `npm start` gives node (package.json's `serve` script). The bin's shebang and the
 * image's entry point carry the same ones (test/unit/project/launchers.test.ts); the benchmark starts the
 * server with them so its figures are the shipped server's.
 */
export function launchNodeArgs(): string[] {
  return serveCommand()[2]!.split(" ").filter(Boolean);
}

/**
 * The allocator environment `npm start` and the image give the server on this machine (what
 * scripts/with-jemalloc.sh sets: jemalloc when the system has it), for the benchmark to start the
 * server as shipped.
 */
export function launchEnvironment(): Record<string, string> {
  const script = serveCommand()[1]!;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions, for sh to expand
  const printBoth = 'printf "%s\\n%s" "${LD_PRELOAD:-}" "${MALLOC_CONF:-}"';
  const printed = execFileSync("sh", [join(ROOT, script), "sh", "-c", printBoth], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "" },
  });
  const [preload = "", conf = ""] = printed.split("\n");
  return { ...(preload ? { LD_PRELOAD: preload } : {}), ...(conf ? { MALLOC_CONF: conf } : {}) };
}
