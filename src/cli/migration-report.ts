import { printable } from "../core/errors.js";

/** What happened to one secret, as `secretgate migrate` reports it. Never a value. */
export interface MigrationRow {
  name: string;
  outcome: "copied" | "unchanged" | "would copy" | "failed";
  /** The destination held a different value or metadata, which the copy replaced (or would). */
  overwritten: boolean;
  /** What the source holds that the destination cannot keep (`description`, `tags`). */
  notKept: readonly string[];
  sourceDeleted: boolean;
  /** What the destination reported with a copy that verified (e.g. a failed best-effort replication). */
  warnings: readonly string[];
  /** Why it failed: the status name and the message. */
  failure?: { status: string; message: string };
}

export interface MigrationSummaryOptions {
  from: string;
  to: string;
  dryRun: boolean;
  deleteSource: boolean;
  /** A row for every secret, not only those that failed or overwrote. */
  verbose: boolean;
}

/** The stream progress goes to: a terminal gets a bar redrawn in place, anything else plain lines. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

const BAR_REDRAW_MS = 100;
const OUTCOMES = ["copied", "would copy", "unchanged", "failed"] as const;

/**
 * Progress while secrets are migrated: on a terminal, one bar redrawn in place (at most ten times
 * a second); otherwise one plain line per secret, for logs. Names are shown printable (a back end
 * may hold a name with terminal control characters); values are never known here.
 */
export class MigrationProgress {
  private total = 0;
  private done = 0;
  private readonly counts = new Map<MigrationRow["outcome"], number>();
  private lastDrawn = 0;
  private readonly title: string;

  constructor(
    private readonly stream: ProgressStream,
    private readonly from: string,
    to: string,
  ) {
    this.title = `migrate ${from} to ${to}`;
  }

  start(total: number): void {
    this.total = total;
    if (this.stream.isTTY) this.draw();
    else this.stream.write(`${this.title}: ${total} secret${total === 1 ? "" : "s"}\n`);
  }

  finished(row: MigrationRow): void {
    this.done++;
    this.counts.set(row.outcome, (this.counts.get(row.outcome) ?? 0) + 1);
    if (!this.stream.isTTY) {
      const particulars = details(row, this.from);
      this.stream.write(
        `${this.title}: [${this.done}/${this.total}] ` +
          `${printable(JSON.stringify(row.name))} ` +
          `${row.outcome}${particulars.map((part) => `; ${part}`).join("")}\n`,
      );
      return;
    }
    if (this.done === this.total || Date.now() - this.lastDrawn >= BAR_REDRAW_MS) this.draw();
  }

  /** Leaves the finished bar on its own line. */
  end(): void {
    if (this.stream.isTTY) this.stream.write("\n");
  }

  private draw(): void {
    this.lastDrawn = Date.now();
    const counted = OUTCOMES.filter((outcome) => this.counts.has(outcome)).map(
      (outcome) => `${outcome} ${this.counts.get(outcome)}`,
    );
    const status = ` ${this.done}/${this.total}${counted.length > 0 ? `  ${counted.join("  ")}` : ""}`;
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - this.title.length - status.length - 4));
    const filled = this.total === 0 ? width : Math.round((this.done / this.total) * width);
    // \r and "erase line": the bar replaces itself.
    this.stream.write(`\r\u001b[2K${this.title} [${"#".repeat(filled)}${"-".repeat(width - filled)}]${status}`);
  }
}

/**
 * The summary: how many secrets each outcome had, what was overwritten, deleted or not kept, and
 * a row per secret that failed or overwrote (every secret with `verbose`), failures with their
 * reasons. Plain text for stdout.
 */
export function migrationSummary(rows: readonly MigrationRow[], options: MigrationSummaryOptions): string {
  const { from, to } = options;
  const lines = [
    `Migration from ${from} to ${to}: ${rows.length} ` +
      `secret${rows.length === 1 ? "" : "s"}${options.dryRun ? " (dry run: nothing was changed)" : ""}`,
    "",
  ];
  const count = (test: (row: MigrationRow) => boolean) => rows.filter(test).length;
  const outcomes = OUTCOMES.filter((outcome) => outcome !== (options.dryRun ? "copied" : "would copy"));
  lines.push(
    ...table(
      ["OUTCOME", "SECRETS"],
      outcomes.map((outcome) => [outcome, String(count((row) => row.outcome === outcome))]),
    ),
    "",
  );

  const overwritten = count((row) => row.overwritten);
  if (overwritten > 0) {
    lines.push(
      `${overwritten} ${options.dryRun ? "would overwrite" : "overwrote"} a ` +
        `different value or different metadata in ${to} (a copy replaces what ` +
        `the destination held).`,
    );
  }
  for (const kind of ["description", "tags"]) {
    const dropped = count((row) => row.outcome !== "failed" && row.notKept.includes(kind));
    if (dropped > 0)
      lines.push(
        `${to} keeps no ${kind}: ${options.dryRun ? "would not be" : "not"} ` +
          `copied for ${dropped} secret${dropped === 1 ? "" : "s"}.`,
      );
  }
  if (options.deleteSource) {
    const deleted = count((row) => row.sourceDeleted);
    lines.push(
      options.dryRun
        ? `${count((row) => row.outcome !== "failed")} would be deleted from ${from} once their copies verified.`
        : `${deleted} deleted from ${from} after their copies verified ` +
            `(recoverable for ${from}'s recovery window, where it has one).`,
    );
  }
  const warned = count((row) => row.warnings.length > 0);
  if (warned > 0)
    lines.push(`${warned} ${warned === 1 ? "copy" : "copies"} verified with a warning from ${to} (listed below).`);
  const shown = rows.filter(
    (row) => options.verbose || row.outcome === "failed" || row.overwritten || row.warnings.length > 0,
  );
  if (shown.length > 0) {
    if (lines.at(-1) !== "") lines.push("");
    lines.push(
      ...table(
        ["NAME", "OUTCOME", "DETAIL"],
        shown.map((row) => [printable(row.name), row.outcome, details(row, from).join("; ")]),
      ),
    );
  }
  return `${lines.join("\n").trimEnd()}\n`;
}

/** A secret's particulars besides its outcome: why it failed, what it overwrote, deleted or could not keep. */
function details(row: MigrationRow, from: string): string[] {
  const parts: string[] = [];
  if (row.failure) parts.push(`${row.failure.status}: ${printable(row.failure.message)}`);
  if (row.overwritten)
    parts.push(row.outcome === "would copy" ? "would overwrite a different copy" : "overwrote a different copy");
  if (row.outcome !== "failed" && row.notKept.length > 0) parts.push(`${row.notKept.join(" and ")} not kept`);
  if (row.sourceDeleted) parts.push(`deleted from ${from}`);
  parts.push(...row.warnings.map((warning) => `warning: ${printable(warning)}`));
  return parts;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  return [header, ...rows].map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join("  ")
      .trimEnd(),
  );
}
