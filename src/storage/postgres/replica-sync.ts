import type { Logger } from "pino";
import type { Backend } from "../../core/backend.js";
import { ChangeNotices, type ChangeNotice } from "./change-notices.js";
import type { PostgresDatabase } from "./postgres-database.js";
import type { PostgresTeamSettingsStore } from "./postgres-team-settings-store.js";

/**
 * Keeps this replica's caches in step with the others: every Write, Delete (and so Rotate) and
 * SetTeamSettings here is announced; every announcement from elsewhere evicts exactly the
 * entry it names, in the back end it names (unless that entry already holds the version the
 * write created); after a dropped connection everything cached is dropped.
 */
export class ReplicaSync {
  private constructor(private readonly notices: ChangeNotices) {}

  static async start(options: {
    database: PostgresDatabase;
    teams: PostgresTeamSettingsStore;
    /** Every back end by name. */
    backends: ReadonlyMap<string, Backend>;
    /** Where a notice without a back end (from a replica of an earlier release) belongs. */
    defaultBackend: string;
    applicationName: string;
    logger: Logger;
  }): Promise<ReplicaSync> {
    const { database, teams, backends, logger } = options;
    const evictSecret = async (notice: Extract<ChangeNotice, { kind: "secret" }>) => {
      // A back end this replica does not have (a config being rolled out) caches nothing here.
      const backend = backends.get(notice.backend ?? options.defaultBackend);
      if (!backend) return;
      if (notice.location !== undefined) {
        backend.invalidate(notice.name, notice.location, notice.version);
        return;
      }
      try {
        // A replica of an earlier release names only the team: this replica looks its location up.
        const { backend: _home, ...team } = notice.teamId === "" ? {} : ((await teams.get(notice.teamId))?.settings ?? {});
        backend.invalidate(notice.name, backend.locationOf(team), notice.version);
      } catch (error) {
        logger.warn({ reason: (error as Error).message }, "cannot look up a changed secret's team; dropping that back end's whole cache");
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
          for (const backend of backends.values()) backend.clear();
        },
      },
    });
    teams.publishTo(notices);
    for (const [name, backend] of backends) {
      backend.onChange((secret, location, call, version) => {
        const notice: ChangeNotice = { kind: "secret", backend: name, teamId: call.teamId ?? "", location, name: secret, ...(version ? { version } : {}) };
        notices.publish(notice).catch((error: unknown) => {
          logger.warn({ backend: name, name: secret, reason: (error as Error).message }, "cannot tell other replicas about a change; they serve it once their cache expires");
        });
      });
    }
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
