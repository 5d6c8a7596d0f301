import type { Logger } from "pino";
import type { Config } from "./config/schema.js";
import { findDriver } from "./drivers/registry.js";
import { SecretService } from "./core/secret-service.js";
import { Backend, type BackendSettings } from "./core/backend.js";
import type { DriverDefinition } from "./drivers/driver.js";
import { SecretDatabase } from "./storage/database.js";
import { SqliteTeamSettingsStore, type TeamSettingsStore } from "./storage/team-settings-store.js";
import { StartupProbe } from "./core/reachability.js";
import { Dispatcher } from "./server/dispatcher.js";
import { startGrpcListener } from "./server/grpc-listener.js";
import { startHttpListener } from "./server/http-listener.js";
import { SecretService as SecretServiceDesc } from "../gen/secretgate/v1/secret_service_pb.js";

/** How long start-up waits for the back end's first answer before listening anyway (not ready). */
const STARTUP_PROBE_WAIT_MS = 2_000;

export interface RunningServer {
  grpcAddress: string;
  httpAddress: string;
  /** Graceful stop: refuse new calls, finish in-flight ones (bounded by the grace period), close. */
  shutdown(): Promise<void>;
}

/** Wires configuration, storage, the back end, the service core and both listeners together. */
export async function startServer(options: { config: Config; env: Readonly<Record<string, string | undefined>>; logger: Logger }): Promise<RunningServer> {
  const { config, env, logger } = options;
  const definition = findDriver(config.keyManagementSystem);
  if (!definition) throw new Error(`no driver registered for ${config.keyManagementSystem}`);

  const { database, generatedKeyFile } = SecretDatabase.open({ dataDir: config.server.data_dir, masterKeyEnv: env.SECRETGATE_MASTER_KEY });
  if (generatedKeyFile) {
    logger.warn({ keyFile: generatedKeyFile }, "generated a new master key; back it up: without it the data directory cannot be read");
  }
  const cleanups: Array<() => Promise<void> | void> = [() => database.close()];
  try {
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
    const dispatcher = new Dispatcher(service, logger);
    let accepting = true;
    const maxMessageBytes = config.server.max_message_bytes;

    const grpc = await startGrpcListener({ address: config.server.grpc_address, dispatcher, maxMessageBytes });
    grpcHealth = grpc.health;
    grpc.health.setStatus(`secretgate.backend.${definition.name}`, "SERVING");
    cleanups.unshift(() => grpc.server.forceShutdown());
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
    });
    cleanups.unshift(() => http.destroy());
    logger.info(
      { grpc: grpc.address, http: http.address, backend: definition.name, accessMode: config.accessMode, dataDir: config.server.data_dir, sharedDatabase: shared !== undefined },
      "secretgate listening",
    );
    // Scripts and tests wait for this line; do not leave it in the write buffer.
    logger.flush();

    const graceMs = config.server.shutdown_grace_seconds * 1000;
    return {
      grpcAddress: grpc.address,
      httpAddress: http.address,
      shutdown: async () => {
        accepting = false;
        grpc.health.setStatus("", "NOT_SERVING");
        grpc.health.setStatus(SecretServiceDesc.typeName, "NOT_SERVING");
        const grpcStopped = new Promise<void>((resolve) => grpc.server.tryShutdown(() => resolve()));
        const graceful = Promise.all([grpcStopped, http.close(), dispatcher.whenDrained()]);
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
    throw error;
  }
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
