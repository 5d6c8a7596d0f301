import { existsSync, rmdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Logger } from "pino";
import { AuditLog } from "./audit.js";
import { ADMIN_TOKEN_HASH_FILE } from "./auth/admin-token.js";
import { Authenticator } from "./auth/authenticator.js";
import { ConfigError } from "./config/config-error.js";
import type { Config } from "./config/schema.js";
import { Access } from "./core/access.js";
import { AdminService } from "./core/admin-service.js";
import { Backends } from "./core/backends.js";
import { syncReplicaCaches } from "./core/replica-caches.js";
import { SecretService } from "./core/secret-service.js";
import { reportingOutages } from "./core/team-store-outages.js";
import type { DriverDefinition } from "./drivers/driver.js";
import { startIdleReclaim } from "./idle-reclaim.js";
import type { LogDestination } from "./log.js";
import type { ConnectionLimits } from "./server/connection-limits.js";
import { ConsoleAssets } from "./server/console-assets.js";
import { Dispatcher, SERVICES } from "./server/dispatcher.js";
import { startGrpcListener } from "./server/grpc-listener.js";
import { startHttpListener } from "./server/http-listener.js";
import { splitAddress } from "./server/listen-address.js";
import { type HealthStatuses, publishReadiness, Readiness } from "./server/readiness.js";
import { TlsMaterial } from "./server/tls.js";
import { type Cleanup, runCleanups, startBackends } from "./start-backends.js";
import { DATABASE_FILE, SecretDatabase } from "./storage/database.js";
import { MASTER_KEY_FILE } from "./storage/master-key.js";
import { SqliteTeamSettingsStore, type TeamSettingsStore } from "./storage/team-settings-store.js";
import { tracingSettings } from "./tracing/settings.js";

/** How long start-up waits for the back ends' first answers before listening anyway (not ready). */
const STARTUP_PROBE_WAIT_MS = 2_000;

export interface RunningServer {
  grpcAddress: string;
  httpAddress: string;
  /** Re-reads the TLS certificate, key and client CA (SIGHUP); open connections carry on. */
  reloadTls(): void;
  /** Opens the audit file again by its path (SIGHUP, after logrotate moved it). */
  reopenAuditFile(): void;
  /** Graceful stop: refuse new calls, finish in-flight ones (bounded by the grace period), close. */
  shutdown(): Promise<void>;
}

export interface StartOptions {
  config: Config<DriverDefinition>;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  /** Where audit records go when no audit file is configured (the log's stdout stream). */
  logDestination: LogDestination;
  /** Serve without authentication (`--insecure-no-auth`). */
  insecureNoAuth?: boolean;
}

/** Wires configuration, storage, the back ends, the service core and both listeners together. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { config, env, logger } = options;
  const tls = config.server.tls ? new TlsMaterial(config.server.tls) : undefined;

  // A start that fails removes what it created: a refused first start must not leave a generated
  // master key behind for the next one (which may bring its own), nor an empty audit file.
  const created = pathsNotYetPresent(config);
  let database: SecretDatabase;
  let generatedKeyFile: string | undefined;
  try {
    ({ database, generatedKeyFile } = SecretDatabase.open({
      dataDir: config.server.data_dir,
      masterKeyEnv: env.SECRETGATE_MASTER_KEY,
    }));
  } catch (error) {
    removeCreated(created, logger);
    throw error;
  }
  if (generatedKeyFile) {
    logger.warn(
      { keyFile: generatedKeyFile },
      "generated a new master key; back it up: without it the data directory cannot be read",
    );
  }
  const cleanups: Cleanup[] = [() => database.close()];
  try {
    const { auth: authSettings } = config.server;
    const authConfigured =
      options.insecureNoAuth ||
      authSettings.tokens.length > 0 ||
      authSettings.mtls_identities.length > 0 ||
      !!env.SECRETGATE_ADMIN_TOKEN;
    if (!authConfigured) requireLoopback(config);
    const auth = Authenticator.create({
      settings: config.server.auth,
      adminTokenEnv: env.SECRETGATE_ADMIN_TOKEN,
      dataDir: config.server.data_dir,
      insecureNoAuth: options.insecureNoAuth ?? false,
    });
    if (auth.mode === "none")
      logger.warn("authentication is off (--insecure-no-auth): every caller may read, write and delete every secret");
    if (auth.newAdminToken) {
      // Printed once, on stderr only: the data directory keeps just its hash.
      process.stderr.write(
        `\nsecretgate: no authentication is configured, so an admin token was ` +
          `generated (shown only this once):\n\n    ${auth.newAdminToken}\n\n` +
          (`Send it as "authorization: Bearer <token>". Configure ` +
            `secretgate.auth.tokens or SECRETGATE_ADMIN_TOKEN for real ` +
            `deployments.\n\n`),
      );
    }
    const audit = new AuditLog({
      file: config.server.audit.file,
      stdout: options.logDestination,
      onFailure: config.server.audit.on_failure,
      logger,
    });
    // Last: records of the calls drained at shutdown are flushed after everything else stopped.
    cleanups.push(() => audit.close());
    // The OpenTelemetry SDK is loaded only when tracing is on; last to stop, after the drained calls' spans ended.
    const tracingConfig = tracingSettings(config.server.tracing, env);
    const tracing = tracingConfig ? (await import("./tracing/sdk.js")).startTracing(tracingConfig, logger) : undefined;
    if (tracing) cleanups.push(() => tracing.shutdown());
    // One name per process in pg_stat_activity, so an operator can tell replicas apart.
    const applicationName = `secretgate:${process.pid}`;
    const databaseUrl = config.server.database_url;
    const shared = databaseUrl
      ? await (await import("./storage/postgres/shared-storage.js")).SharedStorage.open({
          url: databaseUrl,
          sealer: database,
          logger,
          applicationName,
        })
      : undefined;
    if (shared) cleanups.unshift(() => shared.close());
    let grpcHealth: HealthStatuses | undefined;
    const { backends: backendList, probes } = await startBackends({
      config,
      env,
      database,
      postgres: shared?.database,
      logger,
      tracing: tracing?.tracing,
      // The process still serves cached values (and fallbacks) while a breaker is open, so
      // readiness stays up; each back end's health has its own service name for probes that want it.
      onBreakerChange: (name, state) =>
        grpcHealth?.setStatus(healthServiceName(name), state === "open" ? "NOT_SERVING" : "SERVING"),
      cleanups,
    });
    const backends = new Backends(backendList, config.defaultBackend, config.server.routes);
    const teams: TeamSettingsStore = reportingOutages(shared?.teams ?? new SqliteTeamSettingsStore(database));
    const replicas = shared
      ? await syncReplicaCaches(
          shared,
          new Map(backendList.map((backend) => [backend.name, backend.driver])),
          backends.default.name,
          config.server.database_outage_ttl_seconds * 1000,
          logger,
        )
      : undefined;
    if (replicas) cleanups.unshift(() => replicas.close());
    // Reachable back ends answer at once; unreachable ones must not hold up start-up for long.
    await Promise.race([
      Promise.all(probes.map((probe) => probe.start())),
      new Promise((resolve) => setTimeout(resolve, STARTUP_PROBE_WAIT_MS).unref()),
    ]);
    const access = new Access(backends, teams);
    const secrets = new SecretService({ config, backends, teams, access, env, logger });
    const admin = new AdminService({
      backends,
      teams,
      access,
      identities: auth.authenticator.identities,
      audit: audit.tail,
    });
    const dispatcher = new Dispatcher({ secrets, admin }, auth.authenticator, audit, logger, tracing?.tracing);
    const maxMessageBytes = config.server.max_message_bytes;
    const readiness = new Readiness({
      backends: () =>
        backendList.map((backend) => ({
          name: backend.name,
          system: backend.system,
          reachable: backend.reachable,
          breaker: backend.driver.breakerState,
          cache: backend.driver.cacheSize,
        })),
      defaultBackend: backends.default.name,
      ...(replicas ? { databaseConnected: () => replicas.connected } : {}),
      audit: () => audit.health,
    });

    const limits = connectionLimits(config);
    const grpc = await startGrpcListener({
      address: config.server.grpc_address,
      dispatcher,
      maxMessageBytes,
      tls,
      limits,
      logger,
    });
    grpcHealth = grpc.health;
    for (const backend of backendList)
      grpc.health.setStatus(
        healthServiceName(backend.name),
        backend.driver.breakerState === "open" ? "NOT_SERVING" : "SERVING",
      );
    cleanups.unshift(() => grpc.destroy());
    const readinessWatch = publishReadiness(
      readiness,
      grpc.health,
      SERVICES.map((service) => service.typeName),
    );
    cleanups.unshift(() => readinessWatch.stop());
    const consoleAssets = ConsoleAssets.load();
    if (!consoleAssets) logger.warn("the operator console was not built (npm run build); /console/ is not served");
    const http = await startHttpListener({
      address: config.server.http_address,
      console: consoleAssets,
      dispatcher,
      maxMessageBytes,
      readiness,
      tls,
      limits,
      logger,
    });
    cleanups.unshift(() => http.destroy());
    readiness.serving();
    readinessWatch.update();
    const reclaim = startIdleReclaim(logger);
    cleanups.unshift(() => reclaim.stop());
    logger.info(
      {
        grpc: grpc.address,
        http: http.address,
        tls: tls ? (tls.mutual ? "mutual" : "server") : "off",
        auth: auth.mode,
        backends: backendList.map((backend) => ({
          name: backend.name,
          system: backend.system,
          accessMode: backend.policy.accessMode,
        })),
        defaultBackend: backends.default.name,
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
      reopenAuditFile: () => {
        audit.reopen();
        if (config.server.audit.file) logger.info("reopened the audit file");
      },
      shutdown: async () => {
        readiness.stopping();
        readinessWatch.update();
        // Audit tails last until their callers leave: end them, or they would hold the listeners open.
        audit.tail.close();
        const graceful = Promise.all([grpc.close(), http.close(), dispatcher.whenDrained()]);
        const timedOut = await Promise.race([
          graceful.then(() => false),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
        ]);
        if (timedOut)
          logger.warn(
            { graceSeconds: config.server.shutdown_grace_seconds },
            "in-flight calls outlived the grace period; closing connections",
          );
        await runCleanups(cleanups, logger);
        logger.info("secretgate stopped");
      },
    };
  } catch (error) {
    await runCleanups(cleanups, logger);
    removeCreated(created, logger);
    throw error;
  }
}

/**
 * What a start may create that is not there yet: the data directory (and its missing parents),
 * the files secretgate keeps in it, the audit file (and its missing directories). Children come
 * before their parents, the order to remove them in.
 */
function pathsNotYetPresent(config: Config): string[] {
  const dataDir = resolve(config.server.data_dir);
  const auditFile = config.server.audit.file;
  // A Set: the audit file may sit in the data directory.
  const paths = new Set([
    ...withMissingParents(dataDir),
    ...[DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`, MASTER_KEY_FILE, ADMIN_TOKEN_HASH_FILE].map(
      (file) => join(dataDir, file),
    ),
    ...(auditFile ? withMissingParents(auditFile) : []),
  ]);
  return [...paths].filter((path) => !existsSync(path)).reverse();
}

/** `path` and its ancestors, outermost first, up to the first that exists. */
function withMissingParents(path: string): string[] {
  const chain: string[] = [];
  for (let current = resolve(path); !existsSync(current); current = dirname(current)) chain.unshift(current);
  return chain;
}

/** Removes what a failed start created; a directory something else has put files in meanwhile stays. */
function removeCreated(paths: readonly string[], logger: Logger): void {
  for (const path of paths) {
    try {
      const entry = statSync(path, { throwIfNoEntry: false });
      if (entry?.isDirectory()) rmdirSync(path);
      else if (entry) rmSync(path);
    } catch (error) {
      logger.warn({ path, error: (error as Error).message }, "could not remove what the failed start created");
    }
  }
}

function connectionLimits(config: Config): ConnectionLimits {
  const { limits } = config.server;
  return {
    headerTimeoutMs: limits.header_timeout_ms,
    idleTimeoutMs: limits.idle_timeout_ms,
    maxConnections: limits.max_connections,
    maxConnectionsPerPeer: limits.max_connections_per_peer,
    maxConcurrentStreams: limits.max_concurrent_streams,
    bodyTimeoutMs: limits.body_timeout_ms,
    maxArrivingBodyBytes: limits.max_arriving_body_bytes,
  };
}

/** The gRPC health service name of one back end. */
function healthServiceName(backend: string): string {
  return `secretgate.backend.${backend}`;
}

/**
 * The generated admin token is a development convenience: printed on a terminal, it must not
 * guard a port other machines can reach. Real deployments configure tokens (or pass
 * --insecure-no-auth knowingly).
 */
function requireLoopback(config: Config): void {
  for (const [key, address] of [
    ["grpc_address", config.server.grpc_address],
    ["http_address", config.server.http_address],
  ] as const) {
    const { host } = splitAddress(address);
    if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host)) {
      throw new ConfigError(
        `secretgate.${key}: ${address} is not a loopback address and no authentication is configured; ` +
          "set secretgate.auth.tokens or SECRETGATE_ADMIN_TOKEN, or start with --insecure-no-auth",
      );
    }
  }
}
