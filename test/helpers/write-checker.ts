import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { SecretResult, SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";

type SecretClient = Client<typeof SecretService>;

/** How the calls of a fault test ended, by kind of call and outcome. */
export interface CheckerCounts {
  /** Writes the service answered OK: each must survive the fault. */
  acknowledged: number;
  /** Writes that failed, by status name (UNAVAILABLE is what a fault should bring, never INTERNAL). */
  writeFailures: Record<string, number>;
  /** Reads that answered a value some writer of that name had sent, or "not found" before any write was acknowledged. */
  validReads: number;
  /** Of the valid reads, those marked stale (served from the cache because the back end failed). */
  staleReads: number;
  /** Reads that answered something nobody wrote, an older value than one acknowledged before the read began, or an unmarked stale value. */
  invalidReads: number;
  /** Reads that failed, by status name. */
  readFailures: Record<string, number>;
}

/**
 * The fault suite's bookkeeping. Every value written is `<name>#<n>`, n counting up per name, so
 * a read can be judged: the value must be one a writer sent for that name (never made up, never
 * another name's), and on the replica that wrote it no older than the last write acknowledged
 * before the read began. After the fault, `lost` lists every name whose last acknowledged write
 * is gone (the value read back is older than it).
 */
export class WriteChecker {
  readonly counts: CheckerCounts = {
    acknowledged: 0,
    writeFailures: {},
    validReads: 0,
    staleReads: 0,
    invalidReads: 0,
    readFailures: {},
  };
  /** Per name: the highest n sent, and the highest n acknowledged. */
  private readonly sent = new Map<string, number>();
  private readonly acknowledgedUpTo = new Map<string, number>();
  /** A few of the invalid reads, for the failure message. */
  readonly problems: string[] = [];

  /** Per name: the write in flight, which the next one waits for. */
  private readonly writing = new Map<string, Promise<boolean>>();

  /**
   * Writes the next value of `name`; never throws (the outcome is counted). Writes of one name
   * go one at a time (the next waits for the one in flight): two at once may be applied in
   * either order, and "the last acknowledged" would mean nothing.
   */
  write(client: SecretClient, name: string): Promise<boolean> {
    const previous = this.writing.get(name) ?? Promise.resolve(true);
    const next = previous.then(() => this.writeNow(client, name));
    this.writing.set(name, next);
    return next;
  }

  private async writeNow(client: SecretClient, name: string): Promise<boolean> {
    const n = (this.sent.get(name) ?? 0) + 1;
    this.sent.set(name, n);
    try {
      await client.write({ name, value: `${name}#${n}` });
    } catch (error) {
      count(this.counts.writeFailures, codeName(error));
      return false;
    }
    this.counts.acknowledged++;
    if (n > (this.acknowledgedUpTo.get(name) ?? 0)) this.acknowledgedUpTo.set(name, n);
    return true;
  }

  /**
   * Reads `name` and judges the answer. `sameReplica`: the client talks to the replica the writes
   * went through, so a fresh (unmarked) answer must be at least as new as every write
   * acknowledged before the read began.
   */
  async read(client: SecretClient, name: string, sameReplica = true): Promise<boolean> {
    const floor = sameReplica ? (this.acknowledgedUpTo.get(name) ?? 0) : 0;
    let result: SecretResult;
    try {
      result = (await client.read({ names: [name] })).results[0]!;
    } catch (error) {
      count(this.counts.readFailures, codeName(error));
      return false;
    }
    if (result.error && result.error.status !== "NOT_FOUND") {
      count(this.counts.readFailures, result.error.status);
      return false;
    }
    const n = result.found ? sequenceOf(name, result.value) : 0;
    const problem =
      n === undefined
        ? `${name} read ${JSON.stringify(result.value)}, which no writer of it sent`
        : n > (this.sent.get(name) ?? 0)
          ? `${name} read #${n}, which was never sent`
          : n < floor && !result.stale
            ? `${name} read #${n} unmarked, after #${floor} was acknowledged`
            : undefined;
    if (problem) {
      this.counts.invalidReads++;
      if (this.problems.length < 10) this.problems.push(problem);
      return false;
    }
    this.counts.validReads++;
    if (result.stale) this.counts.staleReads++;
    return true;
  }

  /** Names written so far. */
  get names(): string[] {
    return [...this.sent.keys()];
  }

  /**
   * Reads every name back from the back end (past the cache) and lists those whose last
   * acknowledged write is gone. A later write that was sent but not answered may have landed:
   * that is no loss.
   */
  async lost(client: SecretClient): Promise<string[]> {
    const lost: string[] = [];
    for (const [name, acknowledged] of this.acknowledgedUpTo) {
      const result = (await client.read({ names: [name], bypassCache: true })).results[0]!;
      const n = result.found ? sequenceOf(name, result.value) : 0;
      if (n === undefined || n < acknowledged)
        lost.push(
          `${name}: acknowledged #${acknowledged}, read back ${result.found ? JSON.stringify(result.value) : "nothing"}`,
        );
    }
    return lost;
  }
}

function sequenceOf(name: string, value: string): number | undefined {
  const prefix = `${name}#`;
  if (!value.startsWith(prefix)) return undefined;
  const n = Number(value.slice(prefix.length));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function codeName(error: unknown): string {
  const code = ConnectError.from(error).code;
  return Code[code] ? Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase() : String(code);
}

function count(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/**
 * Runs `work` in `workers` loops until `signal` aborts (each loop finishes the call it is in),
 * the fault suite's load: a few callers at once, as a proxy's pool would send.
 */
export async function underLoad(
  workers: number,
  signal: AbortSignal,
  work: (worker: number, iteration: number) => Promise<unknown>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let iteration = 0; !signal.aborted; iteration++) await work(worker, iteration);
    }),
  );
}
