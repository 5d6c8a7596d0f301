import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { launchChromium } from "../test/helpers/browser.js";
import { ROOT, TestServer } from "../test/helpers/server.js";

export interface ConsoleFile {
  name: string;
  raw: number;
  gzip: number;
}

export interface ConsoleLoad {
  files: ConsoleFile[];
  /** Navigation timing of /console/ in ms from navigation start, medians over the samples. */
  cold: { domContentLoaded: number; load: number };
  warm: { domContentLoaded: number; load: number };
  samples: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * The console's bundle as built (bytes raw and gzipped, as the server sends it) and its first
 * load in headless Chromium on loopback, from the page's own navigation timing: cold (browser
 * cache cleared) and warm (hashed assets cached, index.html revalidated). The app renders the
 * sign-in form while its module script runs, so DOMContentLoaded is when the console is usable.
 */
export async function consoleLoad(samples = 7): Promise<ConsoleLoad> {
  const dir = join(ROOT, "dist", "console");
  const files = ["index.html", ...readdirSync(join(dir, "assets")).map((name) => `assets/${name}`)].map((name) => {
    const bytes = readFileSync(join(dir, name));
    // The server sends the gzip only when it is smaller.
    return { name, raw: bytes.length, gzip: Math.min(bytes.length, gzipSync(bytes, { level: 9 }).length) };
  });
  const server = await TestServer.start({ env: { SECRETGATE_LOG_LEVEL: "info" } });
  const browser = await launchChromium();
  try {
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    const cdp = await browser.context.newCDPSession(page);
    const url = `http://${server.httpAddress}/console/`;
    const timing = async () => {
      await page.goto(url, { waitUntil: "load" });
      await page.getByLabel("Bearer token").waitFor({ timeout: 10_000 });
      // A string: this file is compiled for Node, without the DOM's types.
      return page.evaluate<{ domContentLoaded: number; load: number }>(
        `(() => { const entry = performance.getEntriesByType("navigation")[0]; return { domContentLoaded: entry.domContentLoadedEventEnd, load: entry.loadEventEnd }; })()`,
      );
    };
    const cold: Array<{ domContentLoaded: number; load: number }> = [];
    const warm: Array<{ domContentLoaded: number; load: number }> = [];
    // One load first, not counted: Chromium's own start-up work lands there.
    await timing();
    for (let sample = 0; sample < samples; sample++) {
      await cdp.send("Network.clearBrowserCache");
      cold.push(await timing());
      warm.push(await timing());
    }
    const summary = (runs: typeof cold) => ({
      domContentLoaded: median(runs.map((run) => run.domContentLoaded)),
      load: median(runs.map((run) => run.load)),
    });
    return { files, cold: summary(cold), warm: summary(warm), samples };
  } finally {
    await browser.close();
    await server.stop();
  }
}

/** Section 6 of RESULTS.md: the console's bundle and first load. */
export function consoleReport(load: ConsoleLoad): string[] {
  const total = load.files.reduce((sum, file) => ({ raw: sum.raw + file.raw, gzip: sum.gzip + file.gzip }), {
    raw: 0,
    gzip: 0,
  });
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  return [
    `## 6. The operator console (/console/): bundle size and first load\n`,
    `As \`npm run build\` writes it to dist/console/ (esbuild, minified); gzip as the server sends it (level 9, when the browser asks).\n`,
    `| file | raw | gzip |\n|---|---|---|`,
    ...load.files.map(
      (file) => `| ${file.name.replace(/-[0-9a-f]{16}\./, "-<hash>.")} | ${kib(file.raw)} | ${kib(file.gzip)} |`,
    ),
    `| **total** | **${kib(total.raw)}** | **${kib(total.gzip)}** |\n`,
    `First load of /console/ in headless Chromium on loopback, from the page's navigation timing (ms after navigation start; median of ${load.samples}). The sign-in form is rendered by DOMContentLoaded.\n`,
    `| load | DOMContentLoaded | load event |\n|---|---|---|`,
    `| cold (browser cache cleared) | ${load.cold.domContentLoaded.toFixed(0)} ms | ${load.cold.load.toFixed(0)} ms |`,
    `| warm (hashed assets cached, index.html revalidated) | ${load.warm.domContentLoaded.toFixed(0)} ms | ${load.warm.load.toFixed(0)} ms |\n`,
  ];
}
