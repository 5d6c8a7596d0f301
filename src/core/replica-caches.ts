import type { Logger } from "pino";
import type { ReplicaSync, SecretChange } from "../storage/postgres/replica-sync.js";
import type { SharedStorage } from "../storage/postgres/shared-storage.js";
import type { Backend } from "./backend.js";

/**
 * Keeps every back end's cache in step with the other replicas': every Write, Delete (and so
 * Rotate) here is announced; every announcement from elsewhere evicts exactly the entry it names,
 * in the back end it names (unless that entry already holds the version the write created);
 * after missed announcements everything cached is dropped. Storage carries the announcements;
 * what they mean for a cache is the core's to say.
 */
export async function syncReplicaCaches(
  shared: Pick<SharedStorage, "teams" | "syncReplicas">,
  /** Every back end by name. */
  backends: ReadonlyMap<string, Backend>,
  /** Where a change without a back end (from a replica of an earlier release) belongs. */
  defaultBackend: string,
  logger: Logger,
): Promise<ReplicaSync> {
  const evict = async (change: SecretChange) => {
    // A back end this replica does not have (a config being rolled out) caches nothing here.
    const backend = backends.get(change.backend ?? defaultBackend);
    if (!backend) return;
    if (change.location !== undefined) {
      backend.invalidate(change.name, change.location, change.version);
      return;
    }
    try {
      // A replica of an earlier release names only the team: this replica looks its location up.
      const { backend: _home, ...team } = change.teamId === "" ? {} : ((await shared.teams.get(change.teamId))?.settings ?? {});
      backend.invalidate(change.name, backend.locationOf(team), change.version);
    } catch (error) {
      logger.warn({ reason: (error as Error).message }, "cannot look up a changed secret's team; dropping that back end's whole cache");
      backend.clear();
    }
  };
  const sync = await shared.syncReplicas({
    secretChanged: (change) => void evict(change),
    resync: () => {
      for (const backend of backends.values()) backend.clear();
    },
  });
  for (const [name, backend] of backends) {
    backend.onChange((secret, location, call, version) => {
      sync.announce({ kind: "secret", backend: name, teamId: call.teamId ?? "", location, name: secret, ...(version ? { version } : {}) });
    });
  }
  return sync;
}
