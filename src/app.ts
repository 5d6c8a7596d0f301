import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { ADMIN_TOKEN_HASH_FILE } from "./auth/admin-token.js";
import { Authenticator } from "./auth/authenticator.js";
import { AuditLog } from "./audit.js";
import type { LogDestination } from "./log.js";
import { ConfigError } from "./config/config-error.js";
import { TlsMaterial } from "./server/tls.js";
import { splitAddress } from "./server/listen-address.js";
import type { Config } from "./config/schema.js";
import { loadDriver } from "./drivers/registry.js";
import { SecretService } from "./core/secret-service.js";
import { Backend, type BackendSettings } from "./core/backend.js";
import type { DriverDefinition } from "./drivers/driver.js";
import { DATABASE_FILE, SecretDatabase } from "./storage/database.js";
import { MASTER_KEY_FILE } from "./storage/master-key.js";
import { SqliteTeamSettingsStore, type TeamSettingsStore } from "./storage/team-settings-store.js";
import { StartupProbe } from "./core/reachability.js";
import { Dispatcher } from "./server/dispatcher.js";
import { startGrpcListener } from "./server/grpc-listener.js";
import { startHttpListener } from "./server/http-listener.js";
import type { ConnectionLimits } from "./server/connection-limits.js";
import { SecretService as SecretServiceDesc } from "../gen/secretgate/v1/secret_service_pb.js";

/** How long start-up waits for the back end's first answer before listening anyway (not ready). */
const STARTUP_PROBE_WAIT_MS = 2_000;

export interface RunningServer {
  grpcAddress: string;
  httpAddress: string;
  /** Re-reads the TLS certificate, key and client CA (SIGHUP); open connections carry on. */
  reloadTls(): void;
  /** Graceful stop: refuse new calls, finish in-flight ones (bounded by the grace period), close. */
  shutdown(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  /** Where audit records go when no audit file is configured (the log's stdout stream). */
  logDestination: LogDestination;
  /** Serve without authentication (`--insecure-no-auth`). */
  insecureNoAuth?: boolean;
}

/** Wires configuration, storage, the back end, the service core and both listeners together. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { config, env, logger } = options;
  const definition = await loadDriver(config.keyManagementSystem);
  if (!definition) throw new Error(`no driver registered for ${config.keyManagementSystem}`);
  const tls = config.server.tls ? new TlsMaterial(config.server.tls) : undefined;

  // A start that fails removes what it created in the data directory: a refused first start
  // must not leave a generated master key behind for the next one (which may bring its own).
  const created = filesNotYetIn(config.server.data_dir);
  let database: SecretDatabase;
  let generatedKeyFile: string | undefined;
  try {
    ({ database, generatedKeyFile } = SecretDatabase.open({ dataDir: config.server.data_dir, masterKeyEnv: env.SECRETGATE_MASTER_KEY }));
  } catch (error) {
    removeFiles(created);
    throw error;
  }
  if (generatedKeyFile) {
    logger.warn({ keyFile: generatedKeyFile }, "generated a new master key; back it up: without it the data directory cannot be read");
  }
  const cleanups: Array<() => Promise<void> | void> = [() => database.close()];
  try {
    const { auth: authSettings } = config.server;
    const authConfigured = options.insecureNoAuth || authSettings.tokens.length > 0 || authSettings.mtls_identities.length > 0 || !!env.SECRETGATE_ADMIN_TOKEN;
    if (!authConfigured) requireLoopback(config);
    const auth = Authenticator.create({
      settings: config.server.auth,
      adminTokenEnv: env.SECRETGATE_ADMIN_TOKEN,
      dataDir: config.server.data_dir,
      insecureNoAuth: options.insecureNoAuth ?? false,
    });
    if (auth.mode === "none") logger.warn("authentication is off (--insecure-no-auth): every caller may read, write and delete every secret");
    if (auth.newAdminToken) {
      // Printed once, on stderr only: the data directory keeps just its hash.
      process.stderr.write(
        `\nsecretgate: no authentication is configured, so an admin token was generated (shown only this once):\n\n    ${auth.newAdminToken}\n\n` +
          `Send it as "authorization: Bearer <token>". Configure secretgate.auth.tokens or SECRETGATE_ADMIN_TOKEN for real deployments.\n\n`,
      );
    }
    const audit = new AuditLog({ file: config.server.audit.file, stdout: options.logDestination });
    // Last: records of the calls drained at shutdown are flushed after everything else stopped.
    cleanups.push(() => audit.close());
    // One name per process in pg_stat_activity, so an operator can tell replicas apart.
    const applicationName = `secretgate:${process.pid}`;
    const databaseUrl = config.server.database_url;
    const shared = databaseUrl
      ? await (await import("./storage/postgres/shared-storage.js")).SharedStorage.open({ url: databaseUrl, sealer: database, logger, applicationName })
      : undefined;
    if (shared) cleanups.unshift(() => shared.close());
    const driver = await definition.create({
      settings: config.keyManagementSettings,
      env,
      database,
      ...(shared ? { postgres: shared.database } : {}),
      logger: logger.child({ backend: definition.name }),
    });
    cleanups.unshift(() => driver.close());
    const backend = new Backend(driver, definition.name, backendSettings(config, definition, env), logger, (state) => {
      // The process still serves cached values while the breaker is open, so readiness stays
      // up; the back end's health has its own service name for probes that want it.
      grpcHealth?.setStatus(`secretgate.backend.${definition.name}`, state === "open" ? "NOT_SERVING" : "SERVING");
    });
    let grpcHealth: { setStatus(service: string, status: "SERVING" | "NOT_SERVING"): void } | undefined;
    const teams: TeamSettingsStore = shared?.teams ?? new SqliteTeamSettingsStore(database);
    const replicas = shared ? await shared.syncReplicas(backend) : undefined;
    if (replicas) cleanups.unshift(() => replicas.close());
    const probe = new StartupProbe(backend, logger);
    cleanups.unshift(() => probe.stop());
    // A reachable back end answers at once; an unreachable one must not hold up start-up for long.
    await Promise.race([probe.start(), new Promise((resolve) => setTimeout(resolve, STARTUP_PROBE_WAIT_MS).unref())]);
    const service = new SecretService({ config, definition, backend, teams, env, logger });
    const dispatcher = new Dispatcher(service, auth.authenticator, audit, logger);
    let accepting = true;
    const maxMessageBytes = config.server.max_message_bytes;

    const limits = connectionLimits(config);
    const grpc = await startGrpcListener({ address: config.server.grpc_address, dispatcher, maxMessageBytes, tls, limits, logger });
    grpcHealth = grpc.health;
    grpc.health.setStatus(`secretgate.backend.${definition.name}`, "SERVING");
    cleanups.unshift(() => grpc.destroy());
    const http = await startHttpListener({
      address: config.server.http_address,
      dispatcher,
      maxMessageBytes,
      readiness: {
        ready: () => accepting && probe.reachable && (replicas?.connected ?? true),
        details: () => ({
          backend: definition.name,
          backendReachable: probe.reachable,
          breaker: backend.breakerState,
          cache: backend.cacheSize,
          ...(replicas ? { database: replicas.connected ? "connected" : "unreachable" } : {}),
        }),
      },
      tls,
      limits,
      logger,
    });
    cleanups.unshift(() => http.destroy());
    logger.info(
      {
        grpc: grpc.address,
        http: http.address,
        tls: tls ? (tls.mutual ? "mutual" : "server") : "off",
        auth: auth.mode,
        backend: definition.name,
        accessMode: config.accessMode,
        dataDir: config.server.data_dir,
        sharedDatabase: shared !== undefined,
      },
      "secretgate listening",
    );
    // Scripts and tests wait for this line; do not leave it in the write buffer.
    logger.flush();

    const graceMs = config.server.shutdown_grace_seconds * 1000;
    return {
      grpcAddress: grpc.address,
      httpAddress: http.address,
      reloadTls: () => {
        if (!tls) return;
        try {
          tls.reload();
          logger.info("reloaded the TLS certificate and key");
        } catch (error) {
          logger.error({ error: (error as Error).message }, "TLS reload failed; keeping the previous certificate");
        }
      },
      shutdown: async () => {
        accepting = false;
        grpc.health.setStatus("", "NOT_SERVING");
        grpc.health.setStatus(SecretServiceDesc.typeName, "NOT_SERVING");
        const graceful = Promise.all([grpc.close(), http.close(), dispatcher.whenDrained()]);
        const timedOut = await Promise.race([
          graceful.then(() => false),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
        ]);
        if (timedOut) logger.warn({ graceSeconds: config.server.shutdown_grace_seconds }, "in-flight calls outlived the grace period; closing connections");
        for (const cleanup of cleanups) await cleanup();
        logger.info("secretgate stopped");
      },
    };
  } catch (error) {
    for (const cleanup of cleanups) await cleanup();
    removeFiles(created);
    throw error;
  }
}

/** The files secretgate keeps in a data directory that are not there yet. */
function filesNotYetIn(dataDir: string): string[] {
  return [DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`, MASTER_KEY_FILE, ADMIN_TOKEN_HASH_FILE]
    .map((file) => join(dataDir, file))
    .filter((path) => !existsSync(path));
}

function removeFiles(paths: readonly string[]): void {
  for (const path of paths) rmSync(path, { force: true });
}

function connectionLimits(config: Config): ConnectionLimits {
  const { limits } = config.server;
  return {
    headerTimeoutMs: limits.header_timeout_ms,
    idleTimeoutMs: limits.idle_timeout_ms,
    maxConnections: limits.max_connections,
    maxConcurrentStreams: limits.max_concurrent_streams,
  };
}

/** Cache and resilience settings: the global override, else the back end's LiteLLM default, else ours. */
function backendSettings(config: Config, definition: DriverDefinition, env: Readonly<Record<string, string | undefined>>): BackendSettings {
  const { cache, backend } = config.server;
  const policy = definition.cachePolicy?.({ env, settings: config.keyManagementSettings }) ?? {};
  const ttlSeconds = cache.ttl_seconds ?? policy.ttlSeconds ?? cache.default_ttl_seconds;
  return {
    ttlMs: ttlSeconds * 1000,
    negativeTtlMs: cache.negative_ttl_seconds * 1000,
    maxStalenessMs: cache.max_staleness_seconds * 1000,
    refreshAheadFraction: cache.refresh_ahead_fraction,
    bypassCache: policy.bypass ?? false,
    maxEntries: cache.max_entries,
    maxBytes: cache.max_bytes,
    retry: { maxAttempts: backend.retry_max_attempts, baseDelayMs: backend.retry_base_delay_ms, maxDelayMs: backend.retry_max_delay_ms },
    retryBudgetRatio: backend.retry_budget_ratio,
    maxConcurrentCalls: backend.max_concurrent_calls,
    breakerFailureThreshold: backend.breaker_failure_threshold,
    breakerOpenMs: backend.breaker_open_seconds * 1000,
  };
}

/**
 * The generated admin token is a development convenience: printed on a terminal, it must not
 * guard a port other machines can reach. Real deployments configure tokens (or pass
 * --insecure-no-auth knowingly).
 */
function requireLoopback(config: Config): void {
  for (const [key, address] of [["grpc_address", config.server.grpc_address], ["http_address", config.server.http_address]] as const) {
    const { host } = splitAddress(address);
    if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host)) {
      throw new ConfigError(
        `secretgate.${key}: ${address} is not a loopback address and no authentication is configured; ` +
          "set secretgate.auth.tokens or SECRETGATE_ADMIN_TOKEN, or start with --insecure-no-auth",
      );
    }
  }
}
