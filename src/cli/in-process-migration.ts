import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { PlanMigrationResponse } from "../../gen/secretgate/v1/admin_service_pb.js";
import { Identity } from "../auth/identity.js";
import { ConfigError } from "../config/config-error.js";
import type { Env } from "../config/env.js";
import { loadConfig } from "../config/load.js";
import { Access } from "../core/access.js";
import { Backends } from "../core/backends.js";
import { Migration } from "../core/migration.js";
import { syncReplicaCaches } from "../core/replica-caches.js";
import { type Cleanup, runCleanups, startBackends } from "../start-backends.js";
import { DATABASE_FILE, SecretDatabase } from "../storage/database.js";
import { SqliteTeamSettingsStore } from "../storage/team-settings-store.js";
import { SYSTEMS } from "../systems.js";
import type { MigrationSteps } from "./migration-steps.js";

/**
 * `secretgate migrate --config FILE`: the server's own start-up without listeners — its config,
 * data directory and master key, its shared database and change notices when DATABASE_URL is
 * set (so running replicas drop what they cached of the names it writes), every back end — and
 * the core's Migration called directly, as the operator who holds the config.
 */
export async function openInProcessMigration(
  configPath: string,
  env: Env,
  timeoutMs: number,
  logger: Logger,
): Promise<MigrationSteps> {
  const config = await loadConfig(configPath, env, SYSTEMS);
  const dataDir = config.server.data_dir;
  // Opening a data directory that has none would make a master key and an empty embedded store.
  if (!existsSync(join(dataDir, DATABASE_FILE))) {
    throw new ConfigError(
      `secretgate.data_dir: ${dataDir} holds no ${DATABASE_FILE}: migrate ` +
        `--config opens the data directory of a server that has started there ` +
        `(set SECRETGATE_DATA_DIR to it)`,
    );
  }
  const { database } = SecretDatabase.open({ dataDir, masterKeyEnv: env.SECRETGATE_MASTER_KEY });
  const cleanups: Cleanup[] = [() => database.close()];
  const close = () => runCleanups(cleanups, logger);
  try {
    const databaseUrl = config.server.database_url;
    const shared = databaseUrl
      ? await (await import("../storage/postgres/shared-storage.js")).SharedStorage.open({
          url: databaseUrl,
          sealer: database,
          logger,
          applicationName: `secretgate-migrate:${process.pid}`,
        })
      : undefined;
    if (shared) cleanups.unshift(() => shared.close());
    const { backends: backendList } = await startBackends({
      config,
      env,
      database,
      postgres: shared?.database,
      logger,
      cleanups,
    });
    const backends = new Backends(backendList, config.defaultBackend, config.server.routes);
    if (shared) {
      const replicas = await syncReplicaCaches(
        shared,
        new Map(backendList.map((backend) => [backend.name, backend.driver])),
        backends.default.name,
        config.server.database_outage_ttl_seconds * 1000,
        logger,
      );
      cleanups.unshift(() => replicas.close());
    }
    const migration = new Migration((name) => backends.get(name));
    // The operator who holds the config may do everything; the access decision still scopes each call.
    const access = new Access(backends, shared?.teams ?? new SqliteTeamSettingsStore(database));
    const identity = Identity.unrestricted("the operator (secretgate migrate --config)");
    const scope = () => access.forAdmin({ identity, deadline: Date.now() + timeoutMs }, "migrate secrets");
    return {
      plan: (request): Promise<PlanMigrationResponse> => migration.plan(request, scope()),
      migrate: (request) => migration.migrate(request, scope()),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
