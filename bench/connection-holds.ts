import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { join } from "node:path";
import {
  type HoldBehaviour,
  type HoldCounts,
  type HonestReads,
  hold,
  keepAlive,
  silent,
  stalledHeaders,
} from "../test/helpers/connection-holds.js";
import { TestServer } from "../test/helpers/server.js";
import { listenerErrors, type MemoryRegions, memoryRegions, RssSampler } from "./hostile-load.js";

/** How long each hold lasts, and how long after it memory is measured again. */
const HOLD_SECONDS = 60;
const SETTLE_SECONDS = 30;
const ATTACKER = "127.0.0.2";
const NAME = "CONNECTION_HOLDS_BENCH_KEY";

/**
 * The holds issue 24 found one address could fill a listener with, each run against both ports:
 * keep-alive connections each sending a cheap request every 10 s (`GET /healthz` over HTTP/1.1 to
 * the HTTP port, a Health/Check stream over HTTP/2 to the gRPC port), connections whose HTTP/2
 * header block never ends, and sockets that say nothing and reconnect as soon as they are closed.
 */
export const HOLDS: ReadonlyArray<{
  name: string;
  perPort: number;
  reopenAfterMs: number;
  behaviour: { grpc: HoldBehaviour; http: HoldBehaviour };
}> = [
  {
    name: "keep-alive connections, a request every 10 s each",
    perPort: 4_200,
    reopenAfterMs: 100,
    behaviour: { grpc: keepAlive("http2", 10_000), http: keepAlive("http1", 10_000) },
  },
  {
    name: "connections whose header block never ends",
    perPort: 4_096,
    reopenAfterMs: 100,
    behaviour: { grpc: stalledHeaders, http: stalledHeaders },
  },
  {
    name: "silent sockets reconnecting at once (a churn)",
    perPort: 4_500,
    reopenAfterMs: 0,
    behaviour: { grpc: silent, http: silent },
  },
];

export interface HoldResult {
  name: string;
  perPort: number;
  seconds: number;
  counts: { grpc: HoldCounts; http: HoldCounts };
  /** The most connections one peer held on each listener, as the server counted them (sampled every 2 s). */
  busiestPeer: { grpc: number; http: number };
  reads: { grpc: HonestReads; http: HonestReads };
  rssStartMb: number;
  rssPeakMb: number;
  rssAfterMb: number;
  after: MemoryRegions;
  listenerErrors: Record<string, number>;
  /** The machine's load average as the hold ended (other work shares it). */
  loadAverage: string;
}

/**
 * Section 9 of `npm run bench`: the server as shipped (its node options and environment), with its
 * default limits, under each hold from 127.0.0.2 for a minute, one hold per server, while 127.0.0.1
 * Reads once a second over a new connection on each port. Reports every honest Read's outcome, and
 * the server's RSS at its peak and 30 s after the hold's connections are gone.
 */
export async function connectionHoldsBenchmark(
  nodeArgs: string[],
  env: Record<string, string>,
  work: string,
): Promise<HoldResult[]> {
  const results: HoldResult[] = [];
  for (const attack of HOLDS) {
    const server = await TestServer.start({
      nodeArgs,
      config: { secretgate: { audit: { file: join(work, "holds-audit.log") } } },
      env: { ...env, SECRETGATE_LOG_LEVEL: "info" },
    });
    const stop = { now: false };
    try {
      await server.grpc.write({ name: NAME, value: `sk-${randomBytes(20).toString("hex")}` });
      const rss = new RssSampler(server.process.pid!);
      const rssStartMb = rss.sample();
      const sampling = setInterval(() => rss.sample(), 200);
      const deadline = Date.now() + HOLD_SECONDS * 1000;
      const until = () => stop.now || Date.now() > deadline;
      const holding = Promise.all([
        hold(
          { address: server.grpcAddress, from: ATTACKER },
          attack.perPort,
          attack.behaviour.grpc,
          until,
          attack.reopenAfterMs,
        ),
        hold(
          { address: server.httpAddress, from: ATTACKER },
          attack.perPort,
          attack.behaviour.http,
          until,
          attack.reopenAfterMs,
        ),
      ]);
      const reading = honestReader(server, HOLD_SECONDS);
      const peaks = { grpc: 0, http: 0 };
      const watching = setInterval(
        () =>
          void busiestPeers(server).then((now) => {
            peaks.grpc = Math.max(peaks.grpc, now.grpc);
            peaks.http = Math.max(peaks.http, now.http);
          }),
        2_000,
      );
      const [[grpcCounts, httpCounts], { grpc: grpcReads, http: httpReads }] = await Promise.all([holding, reading]);
      clearInterval(watching);
      const load = loadavg()
        .map((each) => each.toFixed(2))
        .join(", ");
      await new Promise((resolve) => setTimeout(resolve, SETTLE_SECONDS * 1000));
      clearInterval(sampling);
      const rssAfterMb = rss.sample();
      const metrics = await (await fetch(`http://${server.httpAddress}/metrics`)).text();
      results.push({
        name: attack.name,
        perPort: attack.perPort,
        seconds: HOLD_SECONDS,
        counts: { grpc: grpcCounts, http: httpCounts },
        busiestPeer: peaks,
        reads: { grpc: grpcReads, http: httpReads },
        rssStartMb,
        rssPeakMb: rss.peak,
        rssAfterMb,
        after: memoryRegions(server.process.pid!),
        listenerErrors: listenerErrors(metrics),
        loadAverage: load,
      });
    } finally {
      stop.now = true;
      await server.stop();
    }
  }
  return results;
}

/** Runs bench/honest-reader.ts in a process of its own for `seconds`; resolves with its Reads on both ports. */
function honestReader(server: TestServer, seconds: number): Promise<{ grpc: HonestReads; http: HonestReads }> {
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "honest-reader.js"),
      server.grpcAddress,
      server.httpAddress,
      server.token!,
      NAME,
      String(seconds),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve(JSON.parse(output) as { grpc: HonestReads; http: HonestReads })
        : reject(new Error(`the honest reader exited with ${code}`)),
    );
  });
}

/** The server's own count of the most connections one peer holds, per listener (from /metrics). */
async function busiestPeers(server: TestServer): Promise<{ grpc: number; http: number }> {
  const text = await fetch(`http://${server.httpAddress}/metrics`).then(
    (response) => response.text(),
    () => "",
  );
  const of = (listener: string) =>
    Number(
      new RegExp(`secretgate_listener_busiest_peer_connections\\{listener="${listener}"\\} (\\d+)`).exec(text)?.[1] ??
        0,
    );
  return { grpc: of("grpc"), http: of("http") };
}

/** The p99 and slowest of some latencies, in ms. */
export function tail(latencies: number[]): { p99: number; max: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p99: sorted[Math.floor(sorted.length * 0.99)] ?? NaN, max: sorted[sorted.length - 1] ?? NaN };
}
