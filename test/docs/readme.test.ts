import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path/posix";
import { afterAll, describe, expect, it } from "vitest";
import { outline } from "../helpers/markdown.js";
import { ROOT, TestServer } from "../helpers/server.js";

const README = readFileSync(join(ROOT, "README.md"), "utf8");
const MAX_README_LINES = 250;

/** The text of the first fenced block of `language` after `heading` (a line of the README). */
function blockAfter(heading: string, language: string): string {
  const start = README.indexOf(`\n${heading}\n`);
  expect(start, `the README has a section "${heading}"`).toBeGreaterThanOrEqual(0);
  const open = README.indexOf(`\n\`\`\`${language}\n`, start);
  const body = open + language.length + 5;
  return README.slice(body, README.indexOf("\n```", body));
}

/** Splits a shell command line into words, as sh would for the quoting the README uses ('…', "…", $VAR). */
function shellWords(line: string, variables: Record<string, string>): string[] {
  const words: string[] = [];
  for (const match of line.matchAll(/'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g)) {
    const [, single, double, bare] = match;
    const expand = (text: string) => text.replace(/\$([A-Z_]+)/g, (_, name: string) => variables[name] ?? "");
    words.push(single ?? (double !== undefined ? expand(double.replace(/\\(.)/g, "$1")) : expand(bare!)));
  }
  return words;
}

/** A `curl -s -H … -d … URL` from the README, made with fetch instead (curl need not be installed). */
async function curl(command: string, variables: Record<string, string>, httpAddress: string): Promise<string> {
  const words = shellWords(command, variables);
  expect(words[0]).toBe("curl");
  const headers: Record<string, string> = {};
  let body: string | undefined;
  let url: string | undefined;
  for (let i = 1; i < words.length; i++) {
    const word = words[i]!;
    if (word === "-s") continue;
    if (word === "-H") {
      const [name, ...value] = words[++i]!.split(":");
      headers[name!.trim()] = value.join(":").trim();
    } else if (word === "-d") body = words[++i];
    else url = word;
  }
  const response = await fetch(url!.replace("127.0.0.1:8080", httpAddress), {
    method: body === undefined ? "GET" : "POST",
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  return response.text();
}

/** `actual` shows what `expected` shows, where `…` in `expected` stands for anything. */
function expectShown(actual: string, expected: string): void {
  let from = 0;
  for (const part of expected.split("…").filter(Boolean)) {
    const at = actual.indexOf(part, from);
    expect(at, `${JSON.stringify(part)} in ${actual}`).toBeGreaterThanOrEqual(0);
    from = at + part.length;
  }
}

describe("README.md", () => {
  it(`is at most ${MAX_README_LINES} lines, so a newcomer reads it in ten minutes`, () => {
    expect(README.split("\n").length - 1).toBeLessThanOrEqual(MAX_README_LINES);
  });

  it("leads, link by link, to every page under docs/", () => {
    const pages = readdirSync(join(ROOT, "docs"), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith(".md"))
      .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
    const reached = new Set<string>();
    const visit = (file: string) => {
      for (const { target } of outline(readFileSync(join(ROOT, file), "utf8")).links) {
        const path = target.split("#")[0]!;
        if (path === "" || /^[a-z]+:/.test(path)) continue;
        const linked = normalize(join(dirname(file), path));
        if (!linked.endsWith(".md") || reached.has(linked) || !existsSync(join(ROOT, linked))) continue;
        reached.add(linked);
        visit(linked);
      }
    };
    visit("README.md");
    expect(pages.filter((page) => !reached.has(page))).toEqual([]);
  });
});

describe("README.md's quick start, walked on a fresh data directory", () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const server of servers) await server.stop();
  });

  /** The server as `npm start` runs it (no authentication configured), and the token it printed. */
  async function start(dataDir?: string): Promise<{ server: TestServer; token: string }> {
    const server = await TestServer.start({ adminToken: null, ...(dataDir ? { dataDir } : {}) });
    servers.push(server);
    const stderr = () => server.stderrLines.join("\n");
    await expect.poll(() => /\bsgt_[A-Za-z0-9_-]{20,}/.test(stderr())).toBe(true);
    return { server, token: /\bsgt_[A-Za-z0-9_-]{20,}/.exec(stderr())![0] };
  }

  it("prints the admin token as shown, and a Write then a Read with it answer as the README says", async () => {
    const { server, token } = await start();
    const shown = blockAfter("## Quick start", "text");
    expect(server.stderrLines[0]).toBe(shown.split("\n")[0]);
    for (const file of ["secretgate.db", "master.key", "admin-token.sha256"])
      expect(existsSync(join(server.dataDir, file)), file).toBe(true);

    const lines = blockAfter("## Calling it", "sh")
      .replace(/\\\n\s*/g, "")
      .split("\n");
    // Each command is followed by what it answers, as comment lines.
    const answerAfter = (index: number) => {
      const comments = [];
      for (let next = index + 1; lines[next]?.startsWith("#"); next++) comments.push(lines[next]!.replace(/^#\s*/, ""));
      return comments.join("");
    };
    const commands = lines.flatMap((line, index) =>
      line.startsWith("curl ") ? [{ command: line, shows: answerAfter(index) }] : [],
    );
    expect(commands.map(({ command }) => /\/(\w+)$/.exec(command)?.[1])).toEqual(["Write", "Read"]);
    for (const { command, shows } of commands) {
      const answer = await curl(command, { TOKEN: token }, server.httpAddress);
      server.remember(JSON.parse(answer));
      expect(shows).not.toBe("");
      expectShown(answer, shows);
    }
  });

  it("prints a new token when admin-token.sha256 is deleted, and the secrets stay", async () => {
    const first = await start();
    await first.server.json(
      "Write",
      { name: "OPENAI_API_KEY", value: "sk-kept-across-restarts" },
      { authorization: `Bearer ${first.token}` },
    );
    await first.server.stop();
    rmSync(join(first.server.dataDir, "admin-token.sha256"));
    const second = await start(first.server.dataDir);
    expect(second.token).not.toBe(first.token);
    const { body } = await second.server.json(
      "Read",
      { names: ["OPENAI_API_KEY"] },
      { authorization: `Bearer ${second.token}` },
    );
    expect(body.results[0]).toMatchObject({ found: true, value: "sk-kept-across-restarts" });
  });
});
