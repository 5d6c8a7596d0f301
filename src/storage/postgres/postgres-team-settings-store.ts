import type { ListedTeamSettings, StoredTeamSettings, TeamSettingsStore } from "../team-settings-store.js";
import { teamSettingsContext } from "../team-settings-store.js";
import type { ChangeNotices } from "./change-notices.js";
import { orUnavailable } from "./database-unavailable.js";
import type { PostgresDatabase } from "./postgres-database.js";

/**
 * Team settings in the shared PostgreSQL database. Every Read with a team looks its settings
 * up, so they are kept in memory and evicted by change notices (or all at once on resync). While
 * the database is unreachable, teams already looked up are still answered from memory; the
 * others fail with DatabaseUnavailableError.
 */
export class PostgresTeamSettingsStore implements TeamSettingsStore {
  private readonly cached = new Map<string, StoredTeamSettings | null>();
  // Bumped on every eviction: a lookup that started before it must not store what it read.
  private generation = 0;
  private notices: ChangeNotices | undefined;

  constructor(private readonly database: PostgresDatabase) {}

  /** Where `set` and `clear` announce changes to the other replicas. */
  publishTo(notices: ChangeNotices): void {
    this.notices = notices;
  }

  async get(teamId: string): Promise<StoredTeamSettings | undefined> {
    const hit = this.cached.get(teamId);
    if (hit !== undefined) return hit ?? undefined;
    const generation = this.generation;
    const { rows } = await orUnavailable("read team settings", () =>
      this.database.pool.query<{ sealed: Buffer; updated_at: Date }>(
        "SELECT sealed, updated_at FROM secretgate.team_settings WHERE team_id = $1",
        [teamId],
      ),
    );
    const row = rows[0];
    const stored = row
      ? {
          settings: JSON.parse(
            this.database.sealer.open(row.sealed, teamSettingsContext(teamId)).toString("utf8"),
          ) as Record<string, unknown>,
          updatedAt: row.updated_at,
        }
      : undefined;
    if (generation === this.generation) this.cached.set(teamId, stored ?? null);
    return stored;
  }

  async set(teamId: string, settings: Record<string, unknown>): Promise<StoredTeamSettings> {
    const sealed = this.database.sealer.seal(
      Buffer.from(JSON.stringify(settings), "utf8"),
      teamSettingsContext(teamId),
    );
    const { rows } = await orUnavailable("store team settings", () =>
      this.database.pool.query<{ updated_at: Date }>(
        `INSERT INTO secretgate.team_settings (team_id, sealed, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (team_id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at
         RETURNING updated_at`,
        [teamId, sealed],
      ),
    );
    await this.changed(teamId);
    return { settings, updatedAt: rows[0]!.updated_at };
  }

  async clear(teamId: string): Promise<void> {
    await orUnavailable("clear team settings", () =>
      this.database.pool.query("DELETE FROM secretgate.team_settings WHERE team_id = $1", [teamId]),
    );
    await this.changed(teamId);
  }

  async list(after: string, limit: number): Promise<ListedTeamSettings[]> {
    // COLLATE "C": the same byte order as SQLite's, and as the page tokens assume.
    const { rows } = await orUnavailable("list team settings", () =>
      this.database.pool.query<{ team_id: string; sealed: Buffer; updated_at: Date }>(
        `SELECT team_id, sealed, updated_at FROM secretgate.team_settings WHERE ` +
          `team_id COLLATE "C" > $1 ORDER BY team_id COLLATE "C" LIMIT $2`,
        [after, limit],
      ),
    );
    return rows.map((row) => ({
      teamId: row.team_id,
      settings: JSON.parse(
        this.database.sealer.open(row.sealed, teamSettingsContext(row.team_id)).toString("utf8"),
      ) as Record<string, unknown>,
      updatedAt: row.updated_at,
    }));
  }

  /** Forgets one team (another replica changed it). */
  evict(teamId: string): void {
    this.generation++;
    this.cached.delete(teamId);
  }

  /** Forgets every team (notices may have been missed). */
  evictAll(): void {
    this.generation++;
    this.cached.clear();
  }

  private async changed(teamId: string): Promise<void> {
    this.evict(teamId);
    await orUnavailable("tell the other replicas", async () => this.notices?.publish({ kind: "team", teamId }));
  }
}
