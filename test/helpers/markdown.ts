import GithubSlugger from "github-slugger";

/** A link as written in a Markdown file: its target and the line it is on (1-based). */
export interface MarkdownLink {
  target: string;
  line: number;
}

/** One pipe table: its header cells and its rows' cells, each with the line it is on. */
export interface MarkdownTable {
  /** The text of the nearest heading above the table. */
  heading: string;
  header: string[];
  rows: { cells: string[]; line: number }[];
}

/** What the docs checks read from one Markdown file. */
export interface MarkdownOutline {
  links: MarkdownLink[];
  /** The anchors GitHub gives the file's headings, in order (a repeated heading gets `-1`, `-2`, …). */
  anchors: Set<string>;
  /** The headings' text as rendered, in order. */
  headings: string[];
  tables: MarkdownTable[];
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
const INLINE_LINK = /!?\[((?:[^\]\\]|\\.)*)\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g;
const AUTOLINK = /<((?:https?|mailto|ftp):[^>\s]*)>/g;
const HTML_LINK = /\b(?:href|src)="([^"]*)"/g;
const REFERENCE_DEFINITION = /^ {0,3}\[[^\]]+\]:[ \t]*(<[^>]*>|\S+)/;

/**
 * Reads a Markdown file the way GitHub renders it, as far as links and anchors go: fenced code
 * blocks and code spans hold no links, and a heading's anchor is github-slugger's slug of the
 * heading's text as rendered (code spans keep their content, link markup and emphasis go).
 */
export function outline(markdown: string): MarkdownOutline {
  const slugger = new GithubSlugger();
  const links: MarkdownLink[] = [];
  const anchors = new Set<string>();
  const headings: string[] = [];
  const tables: MarkdownTable[] = [];
  let fence: string | undefined;
  let heading = "";
  let table: MarkdownTable | undefined;
  const lines = markdown.split("\n");
  lines.forEach((text, index) => {
    const line = index + 1;
    const fenceMatch = FENCE.exec(text);
    if (fence !== undefined) {
      if (
        fenceMatch &&
        fenceMatch[1]![0] === fence[0] &&
        fenceMatch[1]!.length >= fence.length &&
        text.trim() === fenceMatch[1]
      )
        fence = undefined;
      return;
    }
    if (fenceMatch) {
      fence = fenceMatch[1]!;
      table = undefined;
      return;
    }
    const headingMatch = HEADING.exec(text);
    if (headingMatch) {
      heading = renderedText(headingMatch[2]!);
      anchors.add(slugger.slug(heading));
      headings.push(heading);
      table = undefined;
    }
    const prose = withoutCodeSpans(text);
    for (const match of prose.matchAll(INLINE_LINK)) links.push({ target: unbracket(match[2]!), line });
    for (const match of prose.matchAll(AUTOLINK)) links.push({ target: match[1]!, line });
    for (const match of prose.matchAll(HTML_LINK)) links.push({ target: match[1]!, line });
    const definition = REFERENCE_DEFINITION.exec(prose);
    if (definition) links.push({ target: unbracket(definition[1]!), line });

    if (!text.trimStart().startsWith("|")) {
      table = undefined;
      return;
    }
    const cells = tableCells(text);
    if (table === undefined) {
      const separator = lines[index + 1];
      if (separator !== undefined && /^\s*\|(\s*:?-+:?\s*\|)+\s*$/.test(separator)) {
        table = { heading, header: cells, rows: [] };
        tables.push(table);
      }
    } else if (!cells.every((cell) => /^:?-+:?$/.test(cell))) {
      table.rows.push({ cells, line });
    }
  });
  return { links, anchors, headings, tables };
}

/** The code spans in a table cell, each as written between its backticks. */
export function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/(`+)(.+?)\1(?!`)/g)].map((match) => match[2]!.trim());
}

/** A heading's text as GitHub renders it, which is what its anchor is made from. */
function renderedText(markdown: string): string {
  return markdown
    .replace(/(`+)(.+?)\1(?!`)/g, (_, _ticks, code: string) => code.trim())
    .replace(/!?\[((?:[^\]\\]|\\.)*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/\*+/g, "");
}

/** The line with each code span blanked out, so a link written as code is not taken for a link. */
function withoutCodeSpans(text: string): string {
  return text.replace(/(`+)(.+?)\1(?!`)/g, (span) => " ".repeat(span.length));
}

function unbracket(target: string): string {
  return target.startsWith("<") && target.endsWith(">") ? target.slice(1, -1) : target;
}

/** A table row's cells, split at every pipe that is not escaped (GitHub splits inside code spans too). */
function tableCells(row: string): string[] {
  const text = row
    .trim()
    .replace(/^\|/, "")
    .replace(/(?<!\\)\|$/, "");
  return text.split(/(?<!\\)\|/).map((cell) => cell.replaceAll("\\|", "|").trim());
}
