import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { outline } from "../helpers/markdown.js";

const ROOT = join(import.meta.dirname, "..", "..");

/** The folders of code whose comments are checked, and the extensions of the code in them. */
const FOLDERS = ["src", "test", "console", "bench", "scripts"];
const CODE = /\.(ts|tsx|mts|js|mjs)$/;

/**
 * Documents the project started from but does not hold: the code cites the docs/ that hold what it
 * relies on instead (docs/development.md, "Comments").
 */
const OUTSIDE = /\bSPEC(?:\.md|\s*§)|PERF-NOTES|STYLE\.md/g;

/** A path to a file of the repository, as comments write them: at least one folder, a known extension. */
const PATH =
  /(?<![\w./@:-])((?:\.\.?\/)?(?:[\w.-]+\/)+[\w.-]+\.(?:ts|tsx|mjs|js|md|json|yaml|yml|proto|py|go|sh|txt))(?:#([\w-]+)|,? "([^"]+)"|\s*\(“([^”]+)”\))?/g;
const URL = /\b[a-z][a-z0-9+.-]*:\/\/\S+/gi;

function files(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && (CODE.test(entry.name) || (folder === "src" && entry.name.endsWith(".md"))))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)))
    .filter((path) => !path.includes("node_modules"))
    .sort();
}

/**
 * Each comment of a source file with the line it starts on; a Markdown file is one comment. The file
 * is parsed (a scanner alone would take a regular expression's `//` or a quote for the start of a
 * comment or a string), and the comments around every node are collected.
 */
function comments(path: string): { text: string; line: number }[] {
  const text = readFileSync(join(ROOT, path), "utf8");
  if (path.endsWith(".md")) return [{ text, line: 1 }];
  const source = ts.createSourceFile(
    path,
    text,
    ts.ScriptTarget.Latest,
    true,
    path.endsWith("x") ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
  );
  const found = new Map<number, { text: string; line: number }>();
  const collect = (ranges: readonly ts.CommentRange[] | undefined) => {
    for (const range of ranges ?? []) {
      if (!found.has(range.pos))
        found.set(range.pos, {
          text: text.slice(range.pos, range.end),
          line: source.getLineAndCharacterOfPosition(range.pos).line + 1,
        });
    }
  };
  const visit = (node: ts.Node) => {
    collect(ts.getLeadingCommentRanges(text, node.pos));
    collect(ts.getTrailingCommentRanges(text, node.end));
    ts.forEachChild(node, visit);
  };
  visit(source);
  collect(ts.getLeadingCommentRanges(text, source.endOfFileToken.pos));
  return [...found.values()].sort((a, b) => a.line - b.line);
}

/** Where a path a comment names is, if anywhere: from the repository's root, from src/, or from the file's folder or one above it. */
function locate(cited: string, from: string): string | undefined {
  const built = cited.replace(/^dist\//, "").replace(/\.js$/, ".ts");
  const folders: string[] = [];
  for (let folder = dirname(from); folder !== "." && folder !== ""; folder = dirname(folder)) folders.push(folder);
  for (const candidate of [
    cited,
    built,
    join("src", built),
    ...folders.flatMap((folder) => [join(folder, cited), join(folder, built)]),
  ]) {
    const path = normalize(candidate);
    if (!path.startsWith("..") && statSync(join(ROOT, path), { throwIfNoEntry: false })) return path;
  }
  return undefined;
}

function problems(): string[] {
  const found: string[] = [];
  for (const file of FOLDERS.flatMap(files)) {
    for (const comment of comments(file)) {
      const at = (offset: number) => `${file}:${comment.line + comment.text.slice(0, offset).split("\n").length - 1}`;
      for (const outside of comment.text.matchAll(OUTSIDE))
        found.push(`${at(outside.index)}: cites ${outside[0]}, which is not in the repository`);
      const text = comment.text.replace(URL, (url) => " ".repeat(url.length));
      for (const match of text.matchAll(PATH)) {
        const [, cited, anchor, heading, quoted] = match;
        if (/[<>*]|NAME|\bX\b/.test(cited!)) continue;
        const path = locate(cited!, file);
        if (!path) {
          found.push(`${at(match.index)}: ${cited} does not exist`);
          continue;
        }
        // A section's name may be wrapped onto the comment's next line.
        const section = (heading ?? quoted)?.replace(/\s*\n\s*(?:\*\s*|\/\/\s*)?/g, " ");
        if ((anchor === undefined && section === undefined) || !path.endsWith(".md")) continue;
        const document = outline(readFileSync(join(ROOT, path), "utf8"));
        if (anchor !== undefined && !document.anchors.has(anchor))
          found.push(`${at(match.index)}: ${path} has no heading with the anchor #${anchor}`);
        if (section !== undefined && !document.headings.includes(section))
          found.push(`${at(match.index)}: ${path} has no heading "${section}"`);
      }
    }
  }
  return found;
}

describe("comments", () => {
  it("cite only files of this repository that exist, and sections of its documents that exist", () => {
    expect(problems()).toEqual([]);
  });

  it("catch what they are meant to catch", () => {
    const scanner = comments("test/docs/comments.test.ts");
    expect(scanner.length).toBeGreaterThan(3);
    expect([..."as SPEC §3.2 and PERF-NOTES say".matchAll(OUTSIDE)].map((match) => match[0])).toEqual([
      "SPEC §",
      "PERF-NOTES",
    ]);
    const cited = [...' see test/server/unary-calls.test.ts and docs/operations.md, "Audit"'.matchAll(PATH)].map(
      (match) => [match[1], match[3]],
    );
    expect(cited).toEqual([
      ["test/server/unary-calls.test.ts", undefined],
      ["docs/operations.md", "Audit"],
    ]);
    expect(locate("test/server/unary-calls.test.ts", "src/server/unary-calls.ts")).toBeUndefined();
    expect(locate("drivers/driver.ts", "src/providers/local/index.ts")).toBe("src/drivers/driver.ts");
  });
});
