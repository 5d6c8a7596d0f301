import { DatabaseUnavailableError } from "../storage/postgres/database-unavailable.js";
import type { TeamSettingsStore } from "../storage/team-settings-store.js";
import { unavailable } from "./errors.js";

/**
 * The team settings store with its database outages answered as UNAVAILABLE (worth retrying),
 * not as internal errors: while PostgreSQL is unreachable a team not looked up before cannot
 * be, and settings cannot be stored (storage says which: DatabaseUnavailableError).
 */
export function reportingOutages(store: TeamSettingsStore): TeamSettingsStore {
  const guard = <T>(work: Promise<T>): Promise<T> =>
    work.catch((error: unknown) => {
      throw error instanceof DatabaseUnavailableError ? unavailable(error.message) : error;
    });
  return {
    get: (teamId) => guard(store.get(teamId)),
    set: (teamId, settings) => guard(store.set(teamId, settings)),
    clear: (teamId) => guard(store.clear(teamId)),
    list: (after, limit) => guard(store.list(after, limit)),
  };
}
