import { runCli } from "./cli/cli.js";
import { ConfigError } from "./config/config-error.js";
import { MasterKeyError } from "./storage/master-key.js";
import { DatabaseUnavailableError } from "./storage/postgres/database-unavailable.js";

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof MasterKeyError) {
      console.error(`secretgate: ${error.message}`);
      process.exit(2);
    }
    const cause = error as NodeJS.ErrnoException;
    if (typeof cause.code === "string" && cause.code.startsWith("ERR_PARSE_ARGS")) {
      console.error(`secretgate: ${cause.message} (see secretgate --help)`);
      process.exit(2);
    }
    if (error instanceof DatabaseUnavailableError) {
      console.error(`secretgate: ${error.message}`);
      process.exit(1);
    }
    if (
      cause.code === "EADDRINUSE" ||
      cause.code === "EACCES" ||
      /No address added|EADDRINUSE/.test(cause.message ?? "")
    ) {
      console.error(`secretgate: cannot listen: ${cause.message}`);
      process.exit(1);
    }
    console.error("secretgate: failed to start:", error);
    process.exit(1);
  },
);
