import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { type AdminClient, Code, ConnectError } from "../../clients/typescript/src/index.js";
import {
  ExistingMetadata,
  type MigrateSecretRequest,
  MigrateSecretRequestSchema,
  MigrationOutcome,
  PlanMigrationRequestSchema,
} from "../../gen/secretgate/v1/admin_service_pb.js";
import { printable, ServiceError, statusName } from "../core/errors.js";
import { createLogDestination, createLogger, type LogDestination } from "../log.js";
import {
  CONNECTION_OPTIONS,
  connectAdmin,
  isParseArgsError,
  reportCallFailure,
  timeoutOption,
  UsageError,
} from "./client-commands.js";
import { ExitCode, exitCodeFor } from "./exit-codes.js";
import { openInProcessMigration } from "./in-process-migration.js";
import { MigrationProgress, type MigrationRow, migrationSummary } from "./migration-report.js";
import type { MigrationSteps } from "./migration-steps.js";

/**
 * Each call copies one secret with several back-end calls (reads, describes, write, read-back): more than a read's
 * 10 s.
 */
const DEFAULT_TIMEOUT_SECONDS = 30;
const DEFAULT_CONCURRENCY = 8;
const MAX_CONCURRENCY = 32;

export const MIGRATE_USAGE =
  `usage: secretgate migrate --from BACKEND --to BACKEND [--match GLOB ` +
  `...] [--dry-run] [--delete-source] [--verbose]\n` +
  `                         [--concurrency N] [--timeout SECONDS] ` +
  `[--config FILE | --addr ADDR]\n` +
  `Copies every secret back end --from holds (or those a --match glob ` +
  `selects: * any characters, ? one)\n` +
  `to back end --to under the same name: its current value (text or ` +
  `binary), description and tags, as far\n` +
  `as --to can keep them. Each copy is read back from --to and compared; a ` +
  `secret --to already holds\n` +
  `the same is left alone (unchanged), so a rerun picks up where a run ` +
  `stopped. A different value in --to\n` +
  `is overwritten, and the summary says so. At most 5,000 names per run ` +
  `(narrow them with --match).\n` +
  `  --dry-run         change nothing; say what would be copied\n` +
  `  --delete-source   delete each secret from --from once its copy ` +
  `verified (not forced: --from's\n` +
  `                    recovery window applies)\n` +
  `  --verbose         a summary row for every secret (by default: those ` +
  `that failed, overwrote or warned)\n` +
  `  --concurrency N   secrets copied at once (default ` +
  `${DEFAULT_CONCURRENCY}, at most ${MAX_CONCURRENCY})\n` +
  `  --timeout SECONDS deadline of each call (default ` +
  `${DEFAULT_TIMEOUT_SECONDS})\n` +
  `Against the running server at --addr (SECRETGATE_ADDR) with an admin ` +
  `token (SECRETGATE_TOKEN); or,\n` +
  `with --config FILE, in this process: the server's config, environment ` +
  `and data directory, its back\n` +
  `ends started without listeners. Progress goes to stderr (a bar on a ` +
  `terminal), the summary to stdout;\n` +
  `values never appear in either. Exit code 0 when nothing failed, 5 when ` +
  `every failure was the server\n` +
  `or a back end being unavailable (worth retrying), else 1.`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  from: { type: "string" },
  to: { type: "string" },
  match: { type: "string", multiple: true },
  "dry-run": { type: "boolean" },
  "delete-source": { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
  concurrency: { type: "string" },
  config: { type: "string", short: "c" },
} as const;

/** `secretgate migrate`: plans, copies each secret (a few at once), prints progress and a summary. */
export async function runMigrate(argv: string[]): Promise<number> {
  let steps: MigrationSteps | undefined;
  let logDestination: LogDestination | undefined;
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    if (values.help) {
      console.log(MIGRATE_USAGE);
      return ExitCode.ok;
    }
    if (positionals.length > 0)
      throw new UsageError(`migrate takes options only, not ${JSON.stringify(positionals[0])}`);
    const from = required(values.from, "--from");
    const to = required(values.to, "--to");
    const concurrency = concurrencyOption(values.concurrency);
    if (values.config !== undefined) {
      if (values.addr !== undefined || values.token !== undefined || values.ca !== undefined) {
        throw new UsageError(
          "--config runs the migration in this process: --addr, --token and --ca are for a running server",
        );
      }
      const timeoutMs = timeoutOption(values.timeout, DEFAULT_TIMEOUT_SECONDS) * 1000;
      // Warnings only (a breaker opening, a failed clean-up), on stderr: stdout is the summary's.
      logDestination = createLogDestination(process.stderr.fd);
      steps = await openInProcessMigration(values.config, process.env, timeoutMs, createLogger("warn", logDestination));
    } else {
      steps = remoteSteps(connectAdmin(values, DEFAULT_TIMEOUT_SECONDS));
    }
    const options = {
      from,
      to,
      dryRun: values["dry-run"] ?? false,
      deleteSource: values["delete-source"] ?? false,
      verbose: values.verbose ?? false,
    };
    const rows = await migrateAll(steps, options, values.match ?? [], concurrency);
    // Written out before main exits: stdout may be a pipe whose writes are asynchronous.
    await new Promise<void>((resolve, reject) =>
      process.stdout.write(migrationSummary(rows, options), (error) => (error ? reject(error) : resolve())),
    );
    return exitCode(rows);
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      console.error(`secretgate: ${(error as Error).message}\n${MIGRATE_USAGE}`);
      return ExitCode.usage;
    }
    if (error instanceof ConnectError) return reportCallFailure(error);
    if (error instanceof ServiceError) {
      console.error(`secretgate: ${statusName(error.code)}: ${error.message}`);
      return exitCodeFor(error.code);
    }
    // Configuration and master-key errors: main reports them (exit 2).
    throw error;
  } finally {
    await steps?.close();
    await logDestination?.close();
  }
}

function remoteSteps(client: AdminClient): MigrationSteps {
  return {
    plan: (request) => client.planMigration(request),
    migrate: (request) => client.migrateSecret(request),
    close: async () => {},
  };
}

/** Plans, then migrates each name with at most `concurrency` copies under way, reporting progress on stderr. */
async function migrateAll(
  steps: MigrationSteps,
  options: { from: string; to: string; dryRun: boolean; deleteSource: boolean },
  match: string[],
  concurrency: number,
): Promise<MigrationRow[]> {
  const { from, to, dryRun, deleteSource } = options;
  const plan = await steps.plan(
    create(PlanMigrationRequestSchema, { fromBackend: from, toBackend: to, match, deleteSource }),
  );
  const { names } = plan;
  // Said before anything is copied: what the migration leaves where it is, and how --to takes the metadata of
  // secrets it holds.
  for (const { name, reason } of plan.leftOut)
    process.stderr.write(
      `secretgate: leaving ${printable(JSON.stringify(name))} in ${from}: Read ` +
        `does not serve it from there (${reason})\n`,
    );
  if (plan.existingMetadata === ExistingMetadata.REFUSED) {
    process.stderr.write(
      `secretgate: ${to} cannot change the description or tags of a secret it ` +
        `already holds: such secrets fail without being written\n`,
    );
  }
  const progress = new MigrationProgress(process.stderr, from, to);
  progress.start(names.length);
  const rows: MigrationRow[] = [];
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const index = next++;
      const row = await migrateOne(
        steps,
        create(MigrateSecretRequestSchema, {
          fromBackend: from,
          toBackend: to,
          name: names[index]!,
          dryRun,
          deleteSource,
        }),
      );
      rows[index] = row;
      progress.finished(row);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, names.length) }, worker));
  progress.end();
  return rows;
}

const OUTCOME_NAMES: Partial<Record<MigrationOutcome, MigrationRow["outcome"]>> = {
  [MigrationOutcome.COPIED]: "copied",
  [MigrationOutcome.UNCHANGED]: "unchanged",
  [MigrationOutcome.WOULD_COPY]: "would copy",
};

async function migrateOne(steps: MigrationSteps, request: MigrateSecretRequest): Promise<MigrationRow> {
  const row = {
    name: request.name,
    overwritten: false,
    notKept: [] as string[],
    sourceDeleted: false,
    warnings: [] as string[],
  };
  try {
    const migrated = await steps.migrate(request);
    const outcome = OUTCOME_NAMES[migrated.outcome];
    if (!outcome)
      return {
        ...row,
        outcome: "failed",
        failure: {
          status: "UNKNOWN",
          message: `the server answered outcome ${migrated.outcome}, which this command does not know`,
        },
      };
    return {
      ...row,
      outcome,
      overwritten: migrated.overwritten,
      notKept: migrated.notKept,
      sourceDeleted: migrated.sourceDeleted,
      warnings: migrated.warnings,
    };
  } catch (error) {
    return { ...row, outcome: "failed", failure: failureOf(error) };
  }
}

function failureOf(error: unknown): { status: string; message: string } {
  if (error instanceof ConnectError) return { status: statusName(error.code), message: error.rawMessage };
  if (error instanceof ServiceError) return { status: statusName(error.code), message: error.message };
  return { status: statusName(Code.Unknown), message: (error as Error).message };
}

/** 0 when nothing failed; 5 when every failure was unavailability (worth retrying); else 1. */
function exitCode(rows: readonly MigrationRow[]): number {
  const failures = rows.filter((row) => row.failure);
  if (failures.length === 0) return ExitCode.ok;
  const retryable = new Set([statusName(Code.Unavailable), statusName(Code.DeadlineExceeded)]);
  return failures.every((row) => retryable.has(row.failure!.status)) ? ExitCode.unavailable : ExitCode.failure;
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`${flag} BACKEND is required`);
  return value;
}

function concurrencyOption(value: string | undefined): number {
  if (value === undefined) return DEFAULT_CONCURRENCY;
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > MAX_CONCURRENCY)
    throw new UsageError(`--concurrency must be a whole number from 1 to ${MAX_CONCURRENCY}`);
  return count;
}
