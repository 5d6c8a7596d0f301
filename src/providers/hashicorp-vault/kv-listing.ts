import { failedPrecondition } from "../../core/errors.js";

/** Names nest at most this many segments below the listed path; deeper folders are refused, not followed. */
export const MAX_LIST_DEPTH = 32;
/** A listing reads at most this many keys (secrets and folders): bounded calls and memory on a huge mount. */
export const MAX_LISTED_KEYS = 10_000;
/** LIST and metadata calls one listing keeps in flight. */
const CONCURRENT_CALLS = 8;

/** What walking one KV v2 path needs from Vault. */
export interface KvTree {
  /** `metadata/` LIST of a folder ("" or "a/b/"): its keys, folders ending in '/'; [] when it is empty or missing. */
  keys(folder: string): Promise<unknown[]>;
  /** Whether the secret's current version reads (neither soft-deleted nor destroyed). */
  isLive(name: string): Promise<boolean>;
  /** Where the walk happens (`ns/mount/metadata/prefix`), for messages. */
  where: string;
}

/**
 * Every secret under the path, relative to it, sorted. KV v2 lists one folder at a time and keeps
 * soft-deleted and destroyed secrets in listings; reads call them missing, so each listed secret's
 * metadata decides whether it is named (one more call per secret, run CONCURRENT_CALLS at a time).
 */
export async function listKvNames(tree: KvTree): Promise<string[]> {
  const names: string[] = [];
  let keysSeen = 0;
  let folders = [""];
  for (let depth = 0; folders.length > 0; depth += 1) {
    if (depth >= MAX_LIST_DEPTH) {
      throw failedPrecondition(
        `folders under ${tree.where} nest deeper than ${MAX_LIST_DEPTH} levels; ` +
          `secretgate lists at most ${MAX_LIST_DEPTH}`,
      );
    }
    const next: string[] = [];
    await inParallel(folders, async (folder) => {
      for (const key of await tree.keys(folder)) {
        if (!isKey(key)) continue;
        keysSeen += 1;
        if (keysSeen > MAX_LISTED_KEYS) {
          throw failedPrecondition(
            `${tree.where} holds more than ${MAX_LISTED_KEYS} secrets and folders; ` +
              `secretgate lists at most ${MAX_LISTED_KEYS} (a narrower path_prefix ` +
              `lists less)`,
          );
        }
        (key.endsWith("/") ? next : names).push(`${folder}${key}`);
      }
    });
    folders = next;
  }
  const live = await inParallel(names, (name) => tree.isLive(name));
  return names.filter((_, index) => live[index]).sort();
}

/**
 * One path segment (a folder's ends in '/'). Anything else from the server would lead the walk out
 * of the listed path (`..`) or in circles (``, `.`). Names the service refuses (control characters)
 * stay: the core answers them as refused, rather than the listing hiding what the mount holds.
 */
function isKey(key: unknown): key is string {
  if (typeof key !== "string") return false;
  const segment = key.endsWith("/") ? key.slice(0, -1) : key;
  return segment !== "" && segment !== "." && segment !== ".." && !segment.includes("/");
}

/** `run` over every item, CONCURRENT_CALLS at a time, results in order; the first failure ends it. */
async function inParallel<T, R>(items: readonly T[], run: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await run(items[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_CALLS, items.length) }, worker));
  return results;
}
