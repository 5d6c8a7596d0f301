import type { Logger } from "pino";
import type { ReplicaSync, SecretChange } from "../storage/postgres/replica-sync.js";
import type { SharedStorage } from "../storage/postgres/shared-storage.js";
import type { CachedDriver } from "./cached-driver.js";
import { unavailable } from "./errors.js";

/**
 * Keeps every back end's cache in step with the other replicas': every Write, Delete (and so
 * Rotate) here is announced; every announcement from elsewhere evicts exactly the entry it names,
 * in the back end it names (unless that entry already holds the version the write created);
 * after missed announcements everything cached is dropped. Storage carries the announcements;
 * what they mean for a cache is the core's to say.
 *
 * While announcements cannot travel (the database is unreachable), a replica bounds staleness on
 * its own: every cached value is fresh for at most `outageTtlMs` after changes were last heard
 * (or after it was fetched, if later), then read again from its back end (or served marked stale
 * if that fails too). And it refuses Writes and Deletes (so Rotates and migrations) with
 * UNAVAILABLE before they reach a back end: the other replicas could not be told, and would serve
 * the old value for their whole TTL.
 */
export async function syncReplicaCaches(
  shared: Pick<SharedStorage, "teams" | "syncReplicas">,
  /** Every back end's cached driver, by the back end's name. */
  drivers: ReadonlyMap<string, CachedDriver>,
  /** Where a change without a back end (from a replica of an earlier release) belongs. */
  defaultBackend: string,
  /** How long a cached value stays fresh while other replicas' changes cannot be heard. */
  outageTtlMs: number,
  logger: Logger,
): Promise<ReplicaSync> {
  const evict = async (change: SecretChange) => {
    // A back end this replica does not have (a config being rolled out) caches nothing here.
    const driver = drivers.get(change.backend ?? defaultBackend);
    if (!driver) return;
    if (change.location !== undefined) {
      driver.invalidate(change.name, change.location, change.version);
      return;
    }
    try {
      // A replica of an earlier release names only the team: this replica looks its location up.
      const { backend: _home, ...team } =
        change.teamId === "" ? {} : ((await shared.teams.get(change.teamId))?.settings ?? {});
      driver.invalidate(change.name, driver.locationOf(team), change.version);
    } catch (error) {
      logger.warn(
        { reason: (error as Error).message },
        "cannot look up a changed secret's team; dropping that back end's whole cache",
      );
      driver.clear();
    }
  };
  const sync = await shared.syncReplicas({
    secretChanged: (change) => void evict(change),
    unheard: (heardAt) => {
      logger.warn(
        { freshForSeconds: outageTtlMs / 1000 },
        "other replicas' changes cannot be heard: cached values are re-read " +
          "sooner, and writes are refused until the database is back",
      );
      for (const driver of drivers.values()) driver.boundFreshness({ since: heardAt, ttlMs: outageTtlMs });
    },
    resync: () => {
      for (const driver of drivers.values()) {
        driver.clear();
        driver.boundFreshness(undefined);
      }
    },
  });
  for (const [name, driver] of drivers) {
    driver.guardChanges(() => {
      if (!sync.connected) {
        throw unavailable(
          "the shared database (DATABASE_URL) is unreachable: the other replicas " +
            "could not be told of this change, so it is not made; retry once the " +
            "database is back",
        );
      }
    });
    driver.onChange((secret, location, call, version) => {
      sync.announce({
        kind: "secret",
        backend: name,
        teamId: call.teamId ?? "",
        location,
        name: secret,
        ...(version ? { version } : {}),
      });
    });
  }
  return sync;
}
