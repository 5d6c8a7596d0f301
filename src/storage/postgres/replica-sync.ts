import type { Logger } from "pino";
import { type ChangeNotice, ChangeNotices } from "./change-notices.js";
import type { PostgresDatabase } from "./postgres-database.js";
import type { PostgresTeamSettingsStore } from "./postgres-team-settings-store.js";

/**
 * A secret written or deleted on some replica: which back end, where in it, which name, and the version a write
 * created.
 */
export type SecretChange = Extract<ChangeNotice, { kind: "secret" }>;

/** What this replica does with other replicas' changes to what it caches. */
export interface ReplicaChangeHandlers {
  /** Another replica wrote or deleted a secret. */
  secretChanged(change: SecretChange): void;
  /** Changes made since `heardAt` (epoch ms) may go unheard until `resync`: the database is unreachable. */
  unheard(heardAt: number): void;
  /** Notices may have been missed (the listening connection dropped and came back): forget everything cached. */
  resync(): void;
}

/**
 * Keeps this replica in step with the others: announces its own changes, delivers theirs. Team
 * settings it keeps in step itself (they are storage's); what back ends cache, the handlers do.
 */
export class ReplicaSync {
  private constructor(
    private readonly notices: ChangeNotices,
    private readonly logger: Logger,
  ) {}

  static async start(options: {
    database: PostgresDatabase;
    teams: PostgresTeamSettingsStore;
    handlers: ReplicaChangeHandlers;
    applicationName: string;
    logger: Logger;
  }): Promise<ReplicaSync> {
    const { teams, handlers } = options;
    const notices = await ChangeNotices.start({
      url: options.database.url,
      pool: options.database.pool,
      applicationName: options.applicationName,
      logger: options.logger,
      handlers: {
        changed: (notice) => {
          if (notice.kind === "team") teams.evict(notice.teamId);
          else handlers.secretChanged(notice);
        },
        lost: (heardAt) => handlers.unheard(heardAt),
        resync: () => {
          teams.evictAll();
          handlers.resync();
        },
      },
    });
    teams.publishTo(notices);
    return new ReplicaSync(notices, options.logger);
  }

  /** Tells the other replicas of a change here; a failure is logged, not thrown (the change itself stands). */
  announce(change: SecretChange): void {
    this.notices.publish(change).catch((error: unknown) => {
      this.logger.warn(
        { backend: change.backend, name: change.name, reason: (error as Error).message },
        "cannot tell other replicas about a change; they serve it once their cache expires",
      );
    });
  }

  /** The change-notice connection is up (readiness: while it is down, other replicas' changes go unnoticed). */
  get connected(): boolean {
    return this.notices.connected;
  }

  close(): Promise<void> {
    return this.notices.close();
  }
}
