import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config/load.js";
import { MasterKeyError } from "./storage/master-key.js";
import { createLogDestination, createLogger } from "./log.js";
import { startServer } from "./app.js";

const USAGE = `usage: secretgate [serve] [--config FILE] [--insecure-no-auth]
       secretgate encrypt --kms aws|google [--key-id ID | --key RESOURCE] VALUE

Runs the secretgate server. The config file is a LiteLLM config.yaml (general_settings.
key_management_system / key_management_settings) with secretgate's own settings under a
top-level "secretgate:" key; SECRETGATE_CONFIG names it too. With no file, secretgate serves
the embedded encrypted store from ./data on 127.0.0.1:50051 (gRPC) and 127.0.0.1:8080 (HTTP).`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
      "insecure-no-auth": { type: "boolean" },
    },
    allowPositionals: true,
    strict: argv[0] !== "encrypt",
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const command = positionals[0] ?? "serve";
  if (command === "encrypt") {
    const { runEncrypt } = await import("./cli/encrypt.js");
    return runEncrypt(argv.slice(argv.indexOf("encrypt") + 1));
  }
  if (command !== "serve" || positionals.length > 1) {
    console.error(`secretgate: unknown command ${JSON.stringify(positionals.join(" "))}\n${USAGE}`);
    return 2;
  }
  const configPath = (values.config as string | undefined) ?? (process.env.SECRETGATE_CONFIG || undefined);
  const config = loadConfig(configPath, process.env);
  const logDestination = createLogDestination();
  const logger = createLogger(config.server.log_level, logDestination);
  const server = await startServer({
    config,
    env: process.env,
    logger,
    logDestination,
    insecureNoAuth: values["insecure-no-auth"] === true,
  });
  process.on("SIGHUP", () => server.reloadTls());

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, "shutting down");
      resolve();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  await server.shutdown();
  logger.flush();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof MasterKeyError) {
      console.error(`secretgate: ${error.message}`);
      process.exit(2);
    }
    const cause = error as NodeJS.ErrnoException;
    if (cause.code === "EADDRINUSE" || cause.code === "EACCES" || /No address added|EADDRINUSE/.test(cause.message ?? "")) {
      console.error(`secretgate: cannot listen: ${cause.message}`);
      process.exit(1);
    }
    console.error("secretgate: failed to start:", error);
    process.exit(1);
  },
);
