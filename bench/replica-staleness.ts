import { randomBytes } from "node:crypto";
import { PostgresServer } from "../test/helpers/postgres-server.js";
import { TestServer } from "../test/helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../test/helpers/vault-test-bed.js";

export interface StalenessRun {
  /** How the database went away. */
  outage: "stopped" | "frozen";
  /** From the value's change (made in Vault directly, as another writer would) to the replica first reading it. */
  staleMs: number;
  /** From the outage to the replica saying `database: unreachable`. */
  noticedMs: number;
}

const POLL_MS = 20;

/**
 * How stale a replica's answers get while it cannot hear the other replicas' change notices,
 * with the default `database_outage_ttl_seconds` (5 s): the replica caches a Vault value, fetched
 * afresh just before the outage (the worst case: its freshness is counted from then), the
 * database goes away, the value is changed in Vault directly at once, and the replica is read
 * every 20 ms until it answers the new value. Two outages, each `rounds` times: PostgreSQL
 * stopped (its connections close at once) and PostgreSQL frozen with SIGSTOP (its connections
 * stay open and nothing answers: the heartbeat has to notice).
 */
export async function replicaStalenessBenchmark(nodeArgs: string[], rounds: number): Promise<StalenessRun[]> {
  const [postgres, bed] = await Promise.all([PostgresServer.start(), startVaultTestBed()]);
  let replica: TestServer | undefined;
  try {
    const vaultEnv = bed.env("token");
    replica = await TestServer.start({
      nodeArgs,
      config: {
        secretgate: {
          backends: {
            local: {},
            vault: {
              key_management_system: "hashicorp_vault",
              key_management_settings: { access_mode: "read_and_write" },
              env: { HCP_VAULT_ADDR: vaultEnv.HCP_VAULT_ADDR, HCP_VAULT_TOKEN: "os.environ/VAULT_TOKEN" },
            },
          },
          default_backend: "local",
        },
      },
      env: {
        DATABASE_URL: await postgres.createDatabase("staleness"),
        SECRETGATE_MASTER_KEY: randomBytes(32).toString("base64"),
        VAULT_TOKEN: vaultEnv.HCP_VAULT_TOKEN!,
        SECRETGATE_LOG_LEVEL: "info",
      },
    });
    const runs: StalenessRun[] = [];
    for (const outage of ["stopped", "frozen"] as const) {
      for (let round = 0; round < rounds; round++)
        runs.push(await measure(replica, postgres, bed, outage, `STALENESS_${outage}_${round}`));
    }
    return runs;
  } finally {
    await replica?.stop();
    await Promise.all([postgres.stop(), bed.close()]);
  }
}

async function measure(
  replica: TestServer,
  postgres: PostgresServer,
  bed: VaultTestBed,
  outage: "stopped" | "frozen",
  name: string,
): Promise<StalenessRun> {
  const reference = `vault://${name}`;
  const read = async () => (await replica.grpc.read({ names: [reference] })).results[0]!;
  const database = async () =>
    ((await (await fetch(`http://${replica.httpAddress}/readyz`)).json()) as { database?: string }).database;
  bed.emulator.kv.write("", "secret", name, { data: { key: "before" } });
  await replica.grpc.read({ names: [reference], bypassCache: true });
  if ((await read()).fromCache !== true) throw new Error("the value was not cached");

  const started = performance.now();
  if (outage === "stopped") await postgres.halt();
  else postgres.freeze();
  bed.emulator.kv.write("", "secret", name, { data: { key: "after" } });
  const changed = performance.now();
  let noticedMs: number | undefined;
  try {
    for (;;) {
      if (noticedMs === undefined && (await database()) === "unreachable") noticedMs = performance.now() - started;
      if ((await read()).value === "after") break;
      if (performance.now() - changed > 60_000)
        throw new Error(`${outage}: the changed value was not read within a minute`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    if (outage === "stopped") await postgres.restart();
    else postgres.thaw();
  }
  const staleMs = performance.now() - changed;
  for (const deadline = Date.now() + 60_000; (await database()) !== "connected"; ) {
    if (Date.now() > deadline) throw new Error("the replica did not reconnect");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { outage, staleMs, noticedMs: noticedMs ?? staleMs };
}
