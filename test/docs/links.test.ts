import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, join, normalize, relative, resolve } from "node:path/posix";
import { describe, expect, it } from "vitest";
import { type MarkdownOutline, outline } from "../helpers/markdown.js";

const ROOT = resolve(import.meta.dirname, "..", "..");

/** README.md and every Markdown file under docs/, as paths relative to the repository. */
function documentation(root: string): string[] {
  const docs = readdirSync(join(root, "docs"), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".md"))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
  return ["README.md", ...docs.sort()];
}

/** The repository as the checker sees it, by paths relative to its root. */
interface Repository {
  read(path: string): string;
  kind(path: string): "file" | "directory" | undefined;
}

function checkout(root: string): Repository {
  return {
    read: (path) => readFileSync(join(root, path), "utf8"),
    kind: (path) => {
      const stat = statSync(join(root, path), { throwIfNoEntry: false });
      return stat === undefined ? undefined : stat.isDirectory() ? "directory" : "file";
    },
  };
}

/**
 * Every link in `files` that would not work on GitHub, as `file:line: target: why`. A relative
 * link must name a file or folder inside the repository; an anchor must be a heading's anchor in
 * the Markdown file it points into. External links are not fetched (tests run offline): they must
 * be well-formed http(s) URLs.
 */
function brokenLinks(repository: Repository, files: readonly string[]): string[] {
  const outlines = new Map<string, MarkdownOutline>();
  const outlineOf = (path: string) => {
    let found = outlines.get(path);
    if (!found) {
      found = outline(repository.read(path));
      outlines.set(path, found);
    }
    return found;
  };
  const problems: string[] = [];
  for (const file of files) {
    for (const { target, line } of outlineOf(file).links) {
      const problem = checkLink(repository, file, target, outlineOf);
      if (problem) problems.push(`${file}:${line}: ${target}: ${problem}`);
    }
  }
  return problems;
}

function checkLink(
  repository: Repository,
  file: string,
  target: string,
  outlineOf: (path: string) => MarkdownOutline,
): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return checkExternal(target);
  if (target.startsWith("/")) return "a link from the repository's root; write it relative to this file";
  const hash = target.indexOf("#");
  const pathPart = hash === -1 ? target : target.slice(0, hash);
  const anchor = hash === -1 ? undefined : target.slice(hash + 1);
  let path: string;
  try {
    path = pathPart === "" ? file : normalize(join(dirname(file), decodeURIComponent(pathPart))).replace(/\/$/, "");
  } catch {
    return "not a valid percent-encoded path";
  }
  if (path === ".." || path.startsWith("../")) return "points outside the repository";
  const kind = repository.kind(path);
  if (kind === undefined) return `${path} does not exist`;
  if (anchor === undefined) return undefined;
  if (kind === "directory" || extname(path) !== ".md") return "an anchor into something that is not a Markdown file";
  if (!outlineOf(path).anchors.has(decodeURIComponent(anchor)))
    return `${path} has no heading with the anchor #${anchor}`;
  return undefined;
}

function checkExternal(target: string): string | undefined {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return "not a well-formed URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return `a ${url.protocol} link; only http(s) and relative links are allowed`;
  if (url.hostname === "") return "a URL without a host";
  return undefined;
}

describe("the link checker", () => {
  const files: Record<string, string> = {
    "README.md": [
      "# Title",
      "## Moving secrets: `secretgate migrate`",
      "## Moving secrets: `secretgate migrate`",
      "### `aws_kms` — AWS KMS",
      "[ok](#title) [dup](#moving-secrets-secretgate-migrate-1) [code heading](#aws_kms--aws-kms)",
      "[doc](docs/a.md#the-a-page) [folder](docs) [image](docs/a.md 'title') <https://example.com/x>",
      "`[not a link](missing.md)`",
      "```",
      "[in a fence](missing.md)",
      "```",
      "| key | meaning |",
      "|---|---|",
      "| `a\\|b` | [cell](docs/a.md#nothing-here) |",
      "[gone](docs/b.md) [bad anchor](#nope) [escape](../outside.md) [root](/README.md)",
      "[no page anchor](docs#x) <mailto:a@b.c> [bad url](https://) [typo](htps//x)",
    ].join("\n"),
    "docs/a.md": "# The A page\n[back](../README.md#title)\n",
  };
  const repository: Repository = {
    read: (path) => files[path]!,
    kind: (path) =>
      Object.hasOwn(files, path)
        ? "file"
        : Object.keys(files).some((file) => file.startsWith(`${path}/`))
          ? "directory"
          : undefined,
  };
  const problems = brokenLinks(repository, Object.keys(files));

  it("reports every broken link and anchor with its line", () => {
    expect(problems).toEqual([
      "README.md:13: docs/a.md#nothing-here: docs/a.md has no heading with the anchor #nothing-here",
      "README.md:14: docs/b.md: docs/b.md does not exist",
      "README.md:14: #nope: README.md has no heading with the anchor #nope",
      "README.md:14: ../outside.md: points outside the repository",
      "README.md:14: /README.md: a link from the repository's root; write it relative to this file",
      "README.md:15: docs#x: an anchor into something that is not a Markdown file",
      "README.md:15: https://: not a well-formed URL",
      "README.md:15: htps//x: htps/x does not exist",
      "README.md:15: mailto:a@b.c: a mailto: link; only http(s) and relative links are allowed",
    ]);
  });
});

describe("README.md and docs/", () => {
  it("link only to files that exist and anchors that headings make", () => {
    expect(brokenLinks(checkout(ROOT), documentation(ROOT))).toEqual([]);
  });
});
