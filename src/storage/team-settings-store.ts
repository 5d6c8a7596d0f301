import type { SecretDatabase } from "./database.js";

export interface StoredTeamSettings {
  settings: Record<string, unknown>;
  updatedAt: Date;
}

/** Team settings, sealed at rest (they may hold credentials), keyed by team id. */
export class TeamSettingsStore {
  constructor(private readonly database: SecretDatabase) {}

  get(teamId: string): StoredTeamSettings | undefined {
    const row = this.database.sql
      .prepare("SELECT sealed, updated_at FROM team_settings WHERE team_id = ?")
      .get(teamId) as { sealed: Uint8Array; updated_at: number } | undefined;
    if (!row) return undefined;
    const settings = JSON.parse(this.database.open(row.sealed, context(teamId)).toString("utf8")) as Record<string, unknown>;
    return { settings, updatedAt: new Date(row.updated_at) };
  }

  set(teamId: string, settings: Record<string, unknown>): StoredTeamSettings {
    const updatedAt = Date.now();
    const sealed = this.database.seal(Buffer.from(JSON.stringify(settings), "utf8"), context(teamId));
    this.database.sql
      .prepare(
        `INSERT INTO team_settings (team_id, sealed, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (team_id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`,
      )
      .run(teamId, sealed, updatedAt);
    return { settings, updatedAt: new Date(updatedAt) };
  }

  clear(teamId: string): void {
    this.database.sql.prepare("DELETE FROM team_settings WHERE team_id = ?").run(teamId);
  }
}

const context = (teamId: string) => `team-settings:${teamId}`;
