import { describe, expect, it } from "vitest";
import { MigrationProgress, type MigrationRow, migrationSummary } from "../../../src/cli/migration-report.js";

// What `secretgate migrate` prints: progress on stderr (a bar on a terminal, plain lines
// otherwise) and the summary on stdout. test/e2e/migrate.test.ts runs the command itself.

const row = (name: string, outcome: MigrationRow["outcome"], extra: Partial<MigrationRow> = {}): MigrationRow => ({
  name,
  outcome,
  overwritten: false,
  notKept: [],
  sourceDeleted: false,
  warnings: [],
  ...extra,
});

function stream(isTTY: boolean) {
  const written: string[] = [];
  return { isTTY, columns: 100, write: (text: string) => written.push(text), written };
}

const options = { from: "aws", to: "vault", dryRun: false, deleteSource: false, verbose: false };

describe("progress", () => {
  it("draws one bar on a terminal, redrawn in place, and ends it with a newline", () => {
    const terminal = stream(true);
    const progress = new MigrationProgress(terminal, "aws", "vault");
    progress.start(4);
    for (const [name, outcome] of [
      ["A", "copied"],
      ["B", "unchanged"],
      ["C", "failed"],
      ["D", "copied"],
    ] as const)
      progress.finished(row(name, outcome));
    progress.end();
    const output = terminal.written.join("");
    expect(output.startsWith("\r\u001b[2Kmigrate aws to vault [")).toBe(true);
    // Every draw replaces the line; the last one is complete.
    const last = output.split("\r\u001b[2K").at(-1)!;
    expect(last).toMatch(/^migrate aws to vault \[#+\] 4\/4 {2}copied 2 {2}unchanged 1 {2}failed 1\n$/);
    expect(last).not.toContain("-");
    expect(output).not.toContain('"A"');
  });

  it("writes one plain line per secret elsewhere, with what happened and why it failed", () => {
    const log = stream(false);
    const progress = new MigrationProgress(log, "aws", "vault");
    progress.start(2);
    progress.finished(row("OPENAI_API_KEY", "copied", { overwritten: true, sourceDeleted: true }));
    progress.finished(
      row("BLOB", "failed", { failure: { status: "FAILED_PRECONDITION", message: "vault cannot keep it" } }),
    );
    progress.end();
    expect(log.written).toEqual([
      "migrate aws to vault: 2 secrets\n",
      'migrate aws to vault: [1/2] "OPENAI_API_KEY" copied; overwrote a different copy; deleted from aws\n',
      'migrate aws to vault: [2/2] "BLOB" failed; FAILED_PRECONDITION: vault cannot keep it\n',
    ]);
  });

  it("shows a name with terminal control characters escaped, not obeyed", () => {
    const terminal = stream(false);
    const progress = new MigrationProgress(terminal, "aws", "vault");
    progress.start(1);
    progress.finished(
      row("evil\u001b]0;pwned\u0007\u009bname", "failed", {
        failure: { status: "INVALID_ARGUMENT", message: "name \u001b[31m" },
      }),
    );
    const output = terminal.written.join("");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for raw control characters in the output
    expect(output).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(output).toContain('"evil\\u001b]0;pwned\\u0007\\u009bname"');
  });
});

describe("summary", () => {
  it("counts each outcome, says what was overwritten, not kept, deleted or warned about, and lists those secrets", () => {
    const rows = [
      row("A", "copied"),
      row("B", "copied", { overwritten: true, notKept: ["description"] }),
      row("C", "unchanged", { notKept: ["description", "tags"] }),
      row("D", "failed", { failure: { status: "UNAVAILABLE", message: "vault did not answer" } }),
      row("E", "copied", { warnings: ["replication to eu-west-1 failed"] }),
    ];
    expect(migrationSummary(rows, options)).toBe(
      [
        "Migration from aws to vault: 5 secrets",
        "",
        "OUTCOME    SECRETS",
        "copied     3",
        "unchanged  1",
        "failed     1",
        "",
        "1 overwrote a different value or different metadata in vault (a copy replaces what the destination held).",
        "vault keeps no description: not copied for 2 secrets.",
        "vault keeps no tags: not copied for 1 secret.",
        "1 copy verified with a warning from vault (listed below).",
        "",
        "NAME  OUTCOME  DETAIL",
        "B     copied   overwrote a different copy; description not kept",
        "D     failed   UNAVAILABLE: vault did not answer",
        "E     copied   warning: replication to eu-west-1 failed",
        "",
      ].join("\n"),
    );
  });

  it("lists every secret with verbose, and says what a dry run would do", () => {
    const rows = [row("A", "would copy", { overwritten: true }), row("B", "unchanged")];
    const summary = migrationSummary(rows, { ...options, dryRun: true, deleteSource: true, verbose: true });
    expect(summary).toContain("Migration from aws to vault: 2 secrets (dry run: nothing was changed)");
    expect(summary).toContain("would copy  1\nunchanged   1\nfailed      0\n");
    expect(summary).not.toMatch(/^copied/m);
    expect(summary).toContain("1 would overwrite a different value or different metadata in vault");
    expect(summary).toContain("2 would be deleted from aws once their copies verified.");
    expect(summary).toMatch(/^A +would copy +would overwrite a different copy$/m);
    expect(summary).toMatch(/^B +unchanged$/m);
  });

  it("says how many were deleted from the source", () => {
    const summary = migrationSummary(
      [
        row("A", "copied", { sourceDeleted: true }),
        row("B", "failed", { failure: { status: "ABORTED", message: "changed" } }),
      ],
      { ...options, deleteSource: true },
    );
    expect(summary).toContain(
      "1 deleted from aws after their copies verified (recoverable for aws's recovery window, where it has one).",
    );
  });
});
