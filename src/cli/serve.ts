import { parseArgs } from "node:util";
import { startServer } from "../app.js";
import { loadConfig } from "../config/load.js";
import { createLogDestination, createLogger } from "../log.js";
import { SYSTEMS } from "../systems.js";

export const SERVE_USAGE = `usage: secretgate [serve] [--config FILE] [--insecure-no-auth]

Runs the secretgate server. The config file is a LiteLLM config.yaml (general_settings.
key_management_system / key_management_settings) with secretgate's own settings under a
top-level "secretgate:" key; SECRETGATE_CONFIG names it too. With no file, secretgate serves
the embedded encrypted store from ./data on 127.0.0.1:50051 (gRPC) and 127.0.0.1:8080 (HTTP).
With DATABASE_URL set, team settings and the embedded store live in PostgreSQL, shared by replicas.
Callers authenticate with bearer tokens (secretgate.auth.tokens, SECRETGATE_ADMIN_TOKEN) or client
certificates; with none configured, an admin token is generated and printed once (loopback only).
--insecure-no-auth turns authentication off. SIGHUP re-reads the TLS certificate and key and
reopens the audit file (after logrotate moved it).`;

/** Serves until SIGTERM or SIGINT, then shuts down gracefully. Start-up errors are thrown to main. */
export async function runServe(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: "string", short: "c" }, "insecure-no-auth": { type: "boolean" } },
    allowPositionals: false,
  });
  const configPath = values.config ?? (process.env.SECRETGATE_CONFIG || undefined);
  const config = await loadConfig(configPath, process.env, SYSTEMS);
  const logDestination = createLogDestination();
  const logger = createLogger(config.server.log_level, logDestination);
  const server = await startServer({
    config,
    env: process.env,
    logger,
    logDestination,
    insecureNoAuth: values["insecure-no-auth"] === true,
  });
  process.on("SIGHUP", () => {
    server.reloadTls();
    server.reopenAuditFile();
  });

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, "shutting down");
      resolve();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  await server.shutdown();
  // The last lines are written before the process exits (an exit would not wait for a write under way).
  await new Promise<void>((resolve) => logDestination.flush(() => resolve()));
  return 0;
}
