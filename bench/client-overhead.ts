import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { createSecretClient, SecretService } from "../clients/typescript/src/index.js";
import { PYTHON, run } from "../test/helpers/run-process.js";
import { ROOT, TestServer } from "../test/helpers/server.js";

/** One side of a comparison: its calls' latencies, in µs. */
export interface Side {
  median_us: number;
  p99_us: number;
  samples: number;
}

export interface Comparison {
  /** python-sync, python-asyncio, litellm-sync, litellm-async, litellm-async-thread-kept, typescript or go. */
  name: string;
  bare: Side;
  helper: Side;
  /** The helper's own time per call (median, µs): a call's time less the time inside the library's call (Python only). */
  own_us?: number;
}

export interface ClientRun {
  /** The language's runtime and gRPC library, as the run reports them. */
  runtime: string;
  comparisons: Comparison[];
  /** The machine's 1-minute load average before and after the run. */
  load: [number, number];
}

const NAME = "BENCH_CLIENT_KEY";

/**
 * What each client helper adds to a cached Read, against its language's bare generated stub: for
 * Python (SecretClient, AsyncSecretClient and the LiteLLM adapter, against grpcio stubs on the
 * helper's own channel), TypeScript (createSecretClient against a Connect client of the generated
 * service, both on one HTTP/2 session) and Go (secretgate.Dial against the generated client on a
 * plain connection). Each alternates, in `rounds` rounds after a warm-up round, `calls` bare calls
 * with `calls` helper calls, one at a time, the order flipped every round, and gives each side's
 * median and p99. The bare calls send the same token and deadline and read the same value from
 * the answer. The server is started as `npm start` starts it (`nodeArgs`, `launchEnv`), its audit records going to a file.
 */
export async function clientOverheadBenchmark(
  work: string,
  nodeArgs: string[],
  launchEnv: Record<string, string>,
  rounds: number,
  calls: number,
): Promise<ClientRun[]> {
  const server = await TestServer.start({
    nodeArgs,
    // One TTL longer than the run: every call is a cache hit.
    config: { secretgate: { audit: { file: join(work, "client-overhead-audit.log") }, cache: { ttl_seconds: 3600 } } },
    env: { ...launchEnv, SECRETGATE_LOG_LEVEL: "info" },
  });
  try {
    await server.grpc.write({ name: NAME, value: `sk-${randomBytes(20).toString("hex")}` });
    await server.grpc.read({ names: [NAME] });
    const env = {
      SECRETGATE_BENCH_ADDR: server.grpcAddress,
      SECRETGATE_BENCH_TOKEN: server.token!,
      SECRETGATE_BENCH_NAME: NAME,
    };
    return [
      await measured(() => python(env, rounds, calls)),
      await measured(() => typescript(server, rounds, calls)),
      await measured(() => go(work, env, rounds, calls)),
    ];
  } finally {
    await server.stop();
  }
}

async function measured(runOne: () => Promise<Omit<ClientRun, "load">>): Promise<ClientRun> {
  const before = loadavg()[0]!;
  const result = await runOne();
  return { ...result, load: [before, loadavg()[0]!] };
}

async function python(env: Record<string, string>, rounds: number, calls: number): Promise<Omit<ClientRun, "load">> {
  const result = await run(
    PYTHON,
    [join(ROOT, "bench", "client-overhead", "python_helpers.py"), String(rounds), String(calls)],
    {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        PYTHONPATH: join(ROOT, "clients", "python"),
        PYTHONDONTWRITEBYTECODE: "1",
        ...env,
      },
    },
  );
  if (result.code !== 0) throw new Error(`the Python client benchmark failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Omit<ClientRun, "load">;
}

/** The TypeScript helper and a bare Connect client of the generated service, on one HTTP/2 session, in this process. */
async function typescript(server: TestServer, rounds: number, calls: number): Promise<Omit<ClientRun, "load">> {
  const url = `http://${server.grpcAddress}`;
  const sessionManager = new Http2SessionManager(url);
  const bare = createClient(SecretService, createGrpcTransport({ baseUrl: url, sessionManager }));
  const helper = createSecretClient(url, { token: server.token!, sessionManager });
  const headers = { authorization: `Bearer ${server.token}` };
  const sides = {
    bare: async () => (await bare.read({ names: [NAME] }, { headers, timeoutMs: 10_000 })).results[0],
    helper: async () => (await helper.read({ names: [NAME] })).results[0],
  };
  for (const call of Object.values(sides)) {
    await call();
    const result = await call();
    if (!result?.found || !result.fromCache) throw new Error("the benchmark's name was not a cache hit");
  }
  const times: Record<keyof typeof sides, number[]> = { bare: [], helper: [] };
  for (let round = 0; round <= rounds; round++) {
    const order = round % 2 === 0 ? (["bare", "helper"] as const) : (["helper", "bare"] as const);
    for (const side of order) {
      for (let call = 0; call < calls; call++) {
        const started = performance.now();
        const result = await sides[side]();
        const took = performance.now() - started;
        if (!result?.found) throw new Error("a benchmark read missed");
        if (round > 0) times[side].push(took * 1000);
      }
    }
  }
  sessionManager.abort();
  return {
    runtime: `Node ${process.version}, @connectrpc/connect-node`,
    comparisons: [{ name: "typescript", bare: summary(times.bare), helper: summary(times.helper) }],
  };
}

/** Builds bench/client-overhead/main.go against the Go client from Debian's Go packages (as clients/go/scripts/build-offline.sh does) and runs it. */
async function go(
  work: string,
  env: Record<string, string>,
  rounds: number,
  calls: number,
): Promise<Omit<ClientRun, "load">> {
  const gopath = join(work, "gopath");
  const module = join(gopath, "src", "github.com", "secretgate", "secretgate");
  mkdirSync(join(module, "bench", "client-overhead"), { recursive: true });
  cpSync(join(ROOT, "clients", "go"), join(module, "clients", "go"), { recursive: true });
  cpSync(join(ROOT, "bench", "client-overhead", "main.go"), join(module, "bench", "client-overhead", "main.go"));
  const binary = join(work, "client-overhead");
  const goEnv = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    GO111MODULE: "off",
    GOFLAGS: "",
    GOPATH: `${gopath}:${process.env.DEBIAN_GOCODE ?? "/usr/share/gocode"}`,
  };
  const build = await run("go", ["build", "-o", binary, "."], {
    cwd: join(module, "bench", "client-overhead"),
    env: goEnv,
  });
  if (build.code !== 0) throw new Error(`building the Go client benchmark failed: ${build.stderr}`);
  const result = await run(binary, [String(rounds), String(calls)], { env: { ...env, PATH: process.env.PATH ?? "" } });
  if (result.code !== 0) throw new Error(`the Go client benchmark failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Omit<ClientRun, "load">;
}

function summary(micros: number[]): Side {
  const ordered = [...micros].sort((a, b) => a - b);
  const at = (q: number) => ordered[Math.floor(q * (ordered.length - 1))]!;
  return { median_us: at(0.5), p99_us: at(0.99), samples: ordered.length };
}
