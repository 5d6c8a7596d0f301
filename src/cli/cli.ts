import { ExitCode } from "./exit-codes.js";

export const USAGE = `usage: secretgate <command> [options]

Commands:
  serve [--config FILE]              run the server (the default when no command is given)
  read NAME                          print a secret's value to stdout
  write NAME                         store the value read from stdin
  delete NAME [--force]              delete a secret
  team get TEAM                      print a team's settings (credentials redacted)
  team set TEAM (JSON | - | --clear) replace a team's settings (JSON argument, or - for stdin)
  team test TEAM (JSON | -)          probe a team's back end under settings, storing nothing (admin)
  team list                          list the teams with settings (admin)
  backends [--json]                  describe the server's back ends (admin)
  callers [--json]                   list the configured identities and their rules (admin)
  stats [--json]                     each back end's last five minutes (admin)
  audit tail                         follow the audit log as JSON lines (admin)
  migrate --from A --to B [...]      copy secrets from one back end to another, verified (admin, or --config)
  encrypt --kms aws|google ...       encrypt a value for the aws_kms / google_kms back ends

Client options (read, write, delete, team, backends, callers, stats, audit, migrate):
  --addr HOST:PORT | URL   the server's gRPC listener (SECRETGATE_ADDR; default 127.0.0.1:50051)
  --token TOKEN            bearer token (prefer SECRETGATE_TOKEN: arguments show in process lists)
  --ca FILE                CA certificate for an https:// address with a private root
  --backend BACKEND        read, write or delete in that back end only (as BACKEND://NAME does)
  --team TEAM              the team whose settings apply
  --virtual-key            the name is a LiteLLM virtual key (the team's or the virtual-key prefix applies)
  --timeout SECONDS        deadline per call (default 10)

Exit codes: 0 ok, 1 failure, 2 usage or invalid argument, 3 not found, 4 unauthenticated or
permission denied, 5 server or back end unavailable. Run "secretgate <command> --help" for details.`;

const CLIENT_COMMANDS = new Set(["read", "write", "delete", "team", "backends", "callers", "stats", "audit"]);

/** Runs one command line; resolves with the process exit code. Server start-up errors are thrown. */
export async function runCli(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first.startsWith("-")) {
    if (first === "--help" || first === "-h") return printUsage(ExitCode.ok);
    const { runServe } = await import("./serve.js");
    return runServe(argv);
  }
  if (first === "help") return printUsage(ExitCode.ok);
  if (first === "serve") {
    if (rest.includes("--help") || rest.includes("-h")) {
      const { SERVE_USAGE } = await import("./serve.js");
      console.log(SERVE_USAGE);
      return ExitCode.ok;
    }
    const { runServe } = await import("./serve.js");
    return runServe(rest);
  }
  if (first === "encrypt") {
    const { runEncrypt } = await import("./encrypt.js");
    return runEncrypt(rest);
  }
  if (first === "migrate") {
    const { runMigrate } = await import("./migrate.js");
    return runMigrate(rest);
  }
  if (CLIENT_COMMANDS.has(first)) {
    const { runClientCommand } = await import("./client-commands.js");
    return runClientCommand(first, rest);
  }
  console.error(`secretgate: unknown command ${JSON.stringify(first)}\n${USAGE}`);
  return ExitCode.usage;
}

function printUsage(code: number): number {
  console.log(USAGE);
  return code;
}
