import type { Logger } from "pino";
import type { Backend } from "../../core/backend.js";
import { ChangeNotices, type ChangeNotice } from "./change-notices.js";
import type { PostgresDatabase } from "./postgres-database.js";
import type { PostgresTeamSettingsStore } from "./postgres-team-settings-store.js";

/**
 * Keeps this replica's caches in step with the others: every Write, Delete (and so Rotate) and
 * SetTeamSettings here is announced; every announcement from elsewhere evicts exactly the
 * entry it names (unless that entry already holds the version the write created); after a
 * dropped connection everything cached is dropped.
 */
export class ReplicaSync {
  private constructor(private readonly notices: ChangeNotices) {}

  static async start(options: {
    database: PostgresDatabase;
    teams: PostgresTeamSettingsStore;
    backend: Backend;
    applicationName: string;
    logger: Logger;
  }): Promise<ReplicaSync> {
    const { database, teams, backend, logger } = options;
    const evictSecret = async (notice: Extract<ChangeNotice, { kind: "secret" }>) => {
      if (notice.backend !== backend.source) return;
      if (notice.location !== undefined) {
        backend.invalidate(notice.name, notice.location, notice.version);
        return;
      }
      try {
        // A replica of an earlier release names only the team: this replica looks its location up.
        const team = notice.teamId === "" ? {} : ((await teams.get(notice.teamId))?.settings ?? {});
        backend.invalidate(notice.name, backend.locationOf(team), notice.version);
      } catch (error) {
        logger.warn({ reason: (error as Error).message }, "cannot look up a changed secret's team; dropping the whole cache");
        backend.clear();
      }
    };
    const notices = await ChangeNotices.start({
      url: database.url,
      pool: database.pool,
      applicationName: options.applicationName,
      logger,
      handlers: {
        changed: (notice) => {
          if (notice.kind === "team") teams.evict(notice.teamId);
          else void evictSecret(notice);
        },
        resync: () => {
          teams.evictAll();
          backend.clear();
        },
      },
    });
    teams.publishTo(notices);
    backend.onChange((name, location, call, version) => {
      const notice: ChangeNotice = { kind: "secret", backend: backend.source, teamId: call.teamId ?? "", location, name, ...(version ? { version } : {}) };
      notices.publish(notice).catch((error: unknown) => {
        logger.warn({ name, reason: (error as Error).message }, "cannot tell other replicas about a change; they serve it once their cache expires");
      });
    });
    return new ReplicaSync(notices);
  }

  /** The change-notice connection is up (readiness: while it is down, other replicas' changes go unnoticed). */
  get connected(): boolean {
    return this.notices.connected;
  }

  close(): Promise<void> {
    return this.notices.close();
  }
}
