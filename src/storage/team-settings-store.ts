import type { SecretDatabase } from "./database.js";

export interface StoredTeamSettings {
  settings: Record<string, unknown>;
  updatedAt: Date;
}

/** Team settings, sealed at rest (they may hold credentials), keyed by team id. */
export interface TeamSettingsStore {
  get(teamId: string): Promise<StoredTeamSettings | undefined>;
  set(teamId: string, settings: Record<string, unknown>): Promise<StoredTeamSettings>;
  clear(teamId: string): Promise<void>;
  /** Up to `limit` teams with settings, by team id, starting after `after` ("" for the first). */
  list(after: string, limit: number): Promise<ListedTeamSettings[]>;
}

export interface ListedTeamSettings extends StoredTeamSettings {
  teamId: string;
}

/** Team settings in the data directory's SQLite database (one replica). */
export class SqliteTeamSettingsStore implements TeamSettingsStore {
  constructor(private readonly database: SecretDatabase) {}

  async get(teamId: string): Promise<StoredTeamSettings | undefined> {
    const row = this.database.sql
      .prepare("SELECT sealed, updated_at FROM team_settings WHERE team_id = ?")
      .get(teamId) as { sealed: Uint8Array; updated_at: number } | undefined;
    if (!row) return undefined;
    const settings = JSON.parse(this.database.open(row.sealed, teamSettingsContext(teamId)).toString("utf8")) as Record<
      string,
      unknown
    >;
    return { settings, updatedAt: new Date(row.updated_at) };
  }

  async set(teamId: string, settings: Record<string, unknown>): Promise<StoredTeamSettings> {
    const updatedAt = Date.now();
    const sealed = this.database.seal(Buffer.from(JSON.stringify(settings), "utf8"), teamSettingsContext(teamId));
    this.database.sql
      .prepare(
        `INSERT INTO team_settings (team_id, sealed, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (team_id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`,
      )
      .run(teamId, sealed, updatedAt);
    return { settings, updatedAt: new Date(updatedAt) };
  }

  async clear(teamId: string): Promise<void> {
    this.database.sql.prepare("DELETE FROM team_settings WHERE team_id = ?").run(teamId);
  }

  async list(after: string, limit: number): Promise<ListedTeamSettings[]> {
    const rows = this.database.sql
      .prepare("SELECT team_id, sealed, updated_at FROM team_settings WHERE team_id > ? ORDER BY team_id LIMIT ?")
      .all(after, limit) as Array<{ team_id: string; sealed: Uint8Array; updated_at: number }>;
    return rows.map((row) => ({
      teamId: row.team_id,
      settings: JSON.parse(this.database.open(row.sealed, teamSettingsContext(row.team_id)).toString("utf8")) as Record<
        string,
        unknown
      >,
      updatedAt: new Date(row.updated_at),
    }));
  }
}

/** Bound into each sealed row, so a row copied to another team fails to open. */
export const teamSettingsContext = (teamId: string) => `team-settings:${teamId}`;
