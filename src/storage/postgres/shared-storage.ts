import type { Logger } from "pino";
import type { SecretDatabase } from "../database.js";
import { PostgresDatabase } from "./postgres-database.js";
import { PostgresTeamSettingsStore } from "./postgres-team-settings-store.js";
import { type ReplicaChangeHandlers, ReplicaSync } from "./replica-sync.js";

/**
 * What replicas share when DATABASE_URL is set: the database (the embedded store's rows), team
 * settings, and the change notices that keep every replica's cache in step. Loaded only then,
 * so a single-process start never loads pg.
 */
export class SharedStorage {
  private constructor(
    readonly database: PostgresDatabase,
    readonly teams: PostgresTeamSettingsStore,
    private readonly applicationName: string,
    private readonly logger: Logger,
  ) {}

  static async open(options: {
    url: string;
    sealer: Pick<SecretDatabase, "seal" | "open">;
    logger: Logger;
    applicationName: string;
  }): Promise<SharedStorage> {
    const database = await PostgresDatabase.open(options);
    return new SharedStorage(
      database,
      new PostgresTeamSettingsStore(database),
      options.applicationName,
      options.logger,
    );
  }

  /** Starts listening for other replicas' changes, delivered to `handlers`; the result announces this one's. */
  syncReplicas(handlers: ReplicaChangeHandlers): Promise<ReplicaSync> {
    return ReplicaSync.start({
      database: this.database,
      teams: this.teams,
      handlers,
      applicationName: this.applicationName,
      logger: this.logger,
    });
  }

  close(): Promise<void> {
    return this.database.close();
  }
}
