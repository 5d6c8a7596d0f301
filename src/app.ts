import type { Logger } from "pino";
import type { Config } from "./config/schema.js";
import { findDriver } from "./drivers/registry.js";
import { SecretService } from "./core/secret-service.js";
import { SecretDatabase } from "./storage/database.js";
import { TeamSettingsStore } from "./storage/team-settings-store.js";
import { Dispatcher } from "./server/dispatcher.js";
import { startGrpcListener } from "./server/grpc-listener.js";
import { startHttpListener } from "./server/http-listener.js";
import { SecretService as SecretServiceDesc } from "../gen/secretgate/v1/secret_service_pb.js";

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
    const driver = await definition.create({ settings: config.keyManagementSettings, env, database, logger: logger.child({ backend: definition.name }) });
    cleanups.unshift(() => driver.close());
    const service = new SecretService({ config, definition, driver, teams: new TeamSettingsStore(database), env, logger });
    const dispatcher = new Dispatcher(service, logger);
    let accepting = true;
    const maxMessageBytes = config.server.max_message_bytes;

    const grpc = await startGrpcListener({ address: config.server.grpc_address, dispatcher, maxMessageBytes });
    cleanups.unshift(() => grpc.server.forceShutdown());
    const http = await startHttpListener({
      address: config.server.http_address,
      dispatcher,
      maxMessageBytes,
      readiness: { ready: () => accepting },
    });
    cleanups.unshift(() => http.destroy());
    logger.info(
      { grpc: grpc.address, http: http.address, backend: definition.name, accessMode: config.accessMode, dataDir: config.server.data_dir },
      "secretgate listening",
    );

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
