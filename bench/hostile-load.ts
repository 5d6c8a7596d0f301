import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { type ClientHttp2Stream, connect as http2Connect } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ReadRequestSchema, SecretService } from "../gen/secretgate/v1/secret_service_pb.js";
import { CLIENT_START, envelope, grpcRequestFields, headers, rstStream } from "../test/helpers/http2-frames.js";
import { exchange, splitAddress } from "../test/helpers/raw-socket.js";
import { TestServer } from "../test/helpers/server.js";

const run = promisify(execFile);

/** How long the attack lasts, and how long after it memory is measured again (issue 14). */
const LOAD_SECONDS = 60;
const SETTLE_SECONDS = 30;
/** The server's defaults: sockets held open up to the limit, per listener. */
const MAX_CONNECTIONS = 4096;
const JUNK_BYTES = 4 * 1024 * 1024 - 64;
/** Pairs of HEADERS + RST_STREAM per rapid-reset connection (past nghttp2's burst of 1,000). */
const RESETS_PER_CONNECTION = 1500;
/** Bodies of 4 MB sent all but their last byte, kept open per port (reopened when the server ends them). */
export const STALLED_PER_PORT = 100;
/** How long the stalled-bodies attack, run on its own, lasts. */
const STALLED_SECONDS = 30;
const VALID_READ_INTERVAL_MS = 100;
const VALID_READ_TIMEOUT_MS = 10_000;

export interface HostileLoadResult {
  seconds: number;
  rssStartMb: number;
  rssPeakMb: number;
  rssAfterMb: number;
  /** What the RSS after is made of. */
  after: MemoryBreakdown;
  validReads: Record<
    "grpc" | "http",
    { ok: number; failed: number; p99Ms: number; maxMs: number; firstFailure?: string }
  >;
  flood: {
    unauthenticatedRequests: number;
    resetsSent: number;
    resetConnections: number;
    junkRequests: number;
    /** Stalled bodies opened, and those the server ended (refused past max_arriving_body_bytes, or cut off at body_timeout_ms). */
    stalledBodiesOpened: number;
    stalledBodiesEnded: number;
    idleSocketsOpened: number;
    idleSocketsRefusedAtOnce: number;
    /** The most idle sockets open at once, per port. */
    idleSocketsHeld: number[];
  };
  listenerErrors: Record<string, number>;
}

/**
 * Section 7 of `npm run bench`: the server as shipped, with its default limits, under a minute of
 * hostile load on both ports at once — an unauthenticated flood (h2load), rapid-reset
 * connections, 4 MB junk requests, and idle sockets held up to max_connections (the mix issue 14
 * set its goals for) — or, on its own, 4 MB bodies sent all but their last byte — while valid
 * Reads trickle in on both ports over connections opened before the attack. Reports whether every
 * valid Read succeeded, and the server's RSS at its peak and 30 s after the attack.
 */
export async function hostileLoadBenchmark(
  nodeArgs: string[],
  work: string,
  attack: "mix" | "stalled bodies" = "mix",
  env: Record<string, string> = {},
): Promise<HostileLoadResult> {
  const auditFile = join(work, "hostile-audit.log");
  const server = await TestServer.start({
    nodeArgs,
    config: { secretgate: { audit: { file: auditFile } } },
    env: { ...env, SECRETGATE_LOG_LEVEL: "info" },
  });
  const stop = { now: false };
  const sockets = new Set<Socket>();
  try {
    await server.grpc.write({ name: "HOSTILE_BENCH_KEY", value: `sk-${randomBytes(20).toString("hex")}` });
    const bearer = (next: any) => (request: any) => {
      request.header.set("authorization", `Bearer ${server.token}`);
      return next(request);
    };
    const clients = {
      grpc: createClient(
        SecretService,
        createGrpcTransport({ baseUrl: `http://${server.grpcAddress}`, interceptors: [bearer] }),
      ),
      http: createClient(
        SecretService,
        createConnectTransport({ baseUrl: `http://${server.httpAddress}`, httpVersion: "2", interceptors: [bearer] }),
      ),
    };
    // Both connections are up before the attack starts (and must survive it).
    for (const client of Object.values(clients)) await client.read({ names: ["HOSTILE_BENCH_KEY"] });

    const rss = new RssSampler(server.process.pid!);
    const rssStartMb = rss.sample();
    const flood = {
      unauthenticatedRequests: 0,
      resetsSent: 0,
      resetConnections: 0,
      junkRequests: 0,
      stalledBodiesOpened: 0,
      stalledBodiesEnded: 0,
      idleSocketsOpened: 0,
      idleSocketsRefusedAtOnce: 0,
      idleSocketsHeld: [0, 0],
    };
    const seconds = attack === "mix" ? LOAD_SECONDS : STALLED_SECONDS;
    const deadline = Date.now() + seconds * 1000;
    const until = () => stop.now || Date.now() > deadline;

    const validReads = {
      grpc: trickle(clients.grpc, until),
      http: trickle(clients.http, until),
    };
    const attackers =
      attack === "mix"
        ? [
            unauthenticatedFlood(server.grpcAddress, server.httpAddress, work).then(
              (count) => (flood.unauthenticatedRequests = count),
            ),
            rapidResets([server.grpcAddress, server.httpAddress], until, flood),
            junkRequests(server.grpcAddress, server.httpAddress, until, flood),
            holdIdleSockets([server.grpcAddress, server.httpAddress], until, flood, sockets),
          ]
        : [stalledBodies(server.grpcAddress, server.httpAddress, until, flood)];
    const sampling = setInterval(() => rss.sample(), 200);
    await Promise.all(attackers);
    const reads = { grpc: await validReads.grpc, http: await validReads.http };
    for (const socket of sockets) socket.destroy();

    // Memory once the attack is over and its connections are gone.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_SECONDS * 1000));
    clearInterval(sampling);
    const rssAfterMb = rss.sample();
    const metrics = await (await fetch(`http://${server.httpAddress}/metrics`)).text();
    const after = memoryBreakdown(server.process.pid!, metrics);
    return {
      seconds,
      rssStartMb,
      rssPeakMb: rss.peak,
      rssAfterMb,
      after,
      validReads: reads,
      flood,
      listenerErrors: listenerErrors(metrics),
    };
  } finally {
    stop.now = true;
    for (const socket of sockets) socket.destroy();
    await server.stop();
  }
}

/** secretgate_listener_errors_total from a /metrics text, as `listener/kind` → count. */
export function listenerErrors(metrics: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [, listener, kind, value] of metrics.matchAll(
    /secretgate_listener_errors_total\{listener="(\w+)",kind="(\w+)"\} (\d+)/g,
  )) {
    counts[`${listener}/${kind}`] = Number(value);
  }
  return counts;
}

/** Where a process's RSS lives (/proc/PID/smaps). */
export interface MemoryRegions {
  /** V8's 256 KiB pages: its heap and the pages it keeps beyond it. */
  v8PagesMb: number;
  /** glibc's main heap (nghttp2, Node's C++ objects, buffers): freed memory in it stays with the process. */
  mallocHeapMb: number;
  /** Other anonymous memory: jemalloc's arenas when it is the allocator (else glibc's other arenas), V8's large objects, thread stacks. */
  otherAnonymousMb: number;
  /** The node binary's pages: file-backed and shared, resident from the start. */
  binaryMb: number;
}

export interface MemoryBreakdown extends MemoryRegions {
  v8HeapMb: number;
  v8HeapUsedMb: number;
}

export function memoryRegions(pid: number): MemoryRegions {
  let v8Pages = 0;
  let mallocHeap = 0;
  let binary = 0;
  let otherAnonymous = 0;
  for (const region of readFileSync(`/proc/${pid}/smaps`, "utf8").split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const [range = "", , , , , path = ""] = region.split("\n")[0]!.split(/\s+/);
    const [start, end] = range.split("-").map((hex) => parseInt(hex, 16));
    const rssKb = Number(/\nRss:\s+(\d+)/.exec(region)?.[1] ?? 0);
    if (path === "[heap]") mallocHeap += rssKb;
    else if (path.endsWith("/node")) binary += rssKb;
    else if (path === "" && end! - start! === 256 * 1024) v8Pages += rssKb;
    else if (path === "") otherAnonymous += rssKb;
  }
  return {
    v8PagesMb: v8Pages / 1024,
    mallocHeapMb: mallocHeap / 1024,
    otherAnonymousMb: otherAnonymous / 1024,
    binaryMb: binary / 1024,
  };
}

/** RSS by where it lives, and V8's own view of its heap (from /metrics). */
function memoryBreakdown(pid: number, metrics: string): MemoryBreakdown {
  const bytes = (name: string) => Number(new RegExp(`${name} (\\d+)`).exec(metrics)?.[1] ?? NaN) / 2 ** 20;
  return {
    v8HeapMb: bytes("secretgate_nodejs_heap_size_total_bytes"),
    v8HeapUsedMb: bytes("secretgate_nodejs_heap_size_used_bytes"),
    ...memoryRegions(pid),
  };
}

export class RssSampler {
  peak = 0;
  constructor(private readonly pid: number) {}

  sample(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const mb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
    this.peak = Math.max(this.peak, mb);
    return mb;
  }
}

/** Valid Reads, one every 100 ms, on a connection opened before the attack. */
async function trickle(
  client: Client<typeof SecretService>,
  until: () => boolean,
): Promise<HostileLoadResult["validReads"]["grpc"]> {
  const latencies: number[] = [];
  let failed = 0;
  let firstFailure: string | undefined;
  while (!until()) {
    const started = performance.now();
    try {
      const { results } = await client.read({ names: ["HOSTILE_BENCH_KEY"] }, { timeoutMs: VALID_READ_TIMEOUT_MS });
      if (!results[0]?.found) throw new Error("the valid Read found nothing");
      latencies.push(performance.now() - started);
    } catch (error) {
      failed++;
      firstFailure ??= (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, VALID_READ_INTERVAL_MS));
  }
  latencies.sort((a, b) => a - b);
  return {
    ok: latencies.length,
    failed,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? NaN,
    maxMs: latencies[latencies.length - 1] ?? NaN,
    ...(firstFailure ? { firstFailure } : {}),
  };
}

/** h2load without a token at both ports for the whole attack: every request is refused UNAUTHENTICATED. */
async function unauthenticatedFlood(grpcAddress: string, httpAddress: string, work: string): Promise<number> {
  const message = toBinary(ReadRequestSchema, create(ReadRequestSchema, { names: ["HOSTILE_BENCH_KEY"] }));
  const grpcBody = join(work, "hostile-grpc.bin");
  const connectBody = join(work, "hostile-connect.bin");
  writeFileSync(grpcBody, envelope(Buffer.from(message)));
  writeFileSync(connectBody, message);
  const flood = (url: string, body: string, contentType: string[]) =>
    run("h2load", ["-c", "8", "-m", "16", "-t", "1", "-D", String(LOAD_SECONDS), "-d", body, ...contentType, url], {
      maxBuffer: 16 * 1024 * 1024,
    }).then(({ stdout }) => Number(/requests: (\d+) total/.exec(stdout)?.[1] ?? 0));
  const counts = await Promise.all([
    flood(`http://${grpcAddress}/secretgate.v1.SecretService/Read`, grpcBody, [
      "-H",
      "content-type: application/grpc",
      "-H",
      "te: trailers",
    ]),
    flood(`http://${httpAddress}/secretgate.v1.SecretService/Read`, connectBody, [
      "-H",
      "content-type: application/proto",
    ]),
  ]);
  return counts[0]! + counts[1]!;
}

/** Connections that open streams and cancel them at once, faster than the bound allows, one after another. */
async function rapidResets(
  addresses: string[],
  until: () => boolean,
  flood: HostileLoadResult["flood"],
): Promise<void> {
  const read = (id: number) => headers(id, grpcRequestFields("/secretgate.v1.SecretService/Read"));
  const burst = Buffer.concat([
    CLIENT_START,
    ...Array.from({ length: RESETS_PER_CONNECTION }, (_, index) =>
      Buffer.concat([read(index * 2 + 1), rstStream(index * 2 + 1)]),
    ),
  ]);
  await Promise.all(
    addresses.map(async (address) => {
      while (!until()) {
        await exchange({ address }, [burst], { quietMs: 500, maxMs: 5_000 });
        flood.resetsSent += RESETS_PER_CONNECTION;
        flood.resetConnections++;
      }
    }),
  );
}

/** 4 MB of junk as a Read, over and over: as a Connect body to the HTTP port, as a gRPC message to the gRPC port. */
async function junkRequests(
  grpcAddress: string,
  httpAddress: string,
  until: () => boolean,
  flood: HostileLoadResult["flood"],
): Promise<void> {
  const junk = randomBytes(JUNK_BYTES);
  const grpcJunk = envelope(junk);
  const workers = [
    async () => {
      while (!until()) {
        await fetch(`http://${httpAddress}/secretgate.v1.SecretService/Read`, {
          method: "POST",
          headers: { "content-type": "application/proto" },
          body: junk,
        }).then(
          (response) => response.arrayBuffer(),
          () => undefined,
        );
        flood.junkRequests++;
      }
    },
    async () => {
      while (!until()) {
        await new Promise<void>((resolve) => {
          const session = http2Connect(`http://${grpcAddress}`);
          session.on("error", () => resolve());
          const stream = session.request({
            ":method": "POST",
            ":path": "/secretgate.v1.SecretService/Read",
            "content-type": "application/grpc",
            te: "trailers",
          });
          stream.on("error", () => undefined);
          stream.on("data", () => undefined);
          stream.on("close", () => {
            session.close();
            resolve();
          });
          stream.end(grpcJunk);
        });
        flood.junkRequests++;
      }
    },
  ];
  await Promise.all([...workers, ...workers].map((worker) => worker()));
}

/**
 * Keeps STALLED_PER_PORT unauthenticated 4 MB Reads per port sent all but their last byte: HTTP/1.1
 * Connect bodies on connections of their own, gRPC messages on streams of four connections. One
 * the server ends (refused, or cut off at body_timeout_ms) is replaced after 100 ms.
 */
async function stalledBodies(
  grpcAddress: string,
  httpAddress: string,
  until: () => boolean,
  flood: HostileLoadResult["flood"],
): Promise<void> {
  const body = Buffer.alloc(JUNK_BYTES - 1, 0x0a);
  const message = envelope(Buffer.alloc(JUNK_BYTES, 0x0a)).subarray(0, -1);
  const pause = () => new Promise((resolve) => setTimeout(resolve, 100));
  const overHttp = async () => {
    const [host, port] = splitAddress(httpAddress);
    while (!until()) {
      await new Promise<void>((resolve) => {
        const socket = netConnect({ host, port });
        flood.stalledBodiesOpened++;
        const end = () => {
          socket.destroy();
          resolve();
        };
        const timer = setInterval(() => until() && end(), 250);
        socket.on("error", () => undefined);
        socket.once("data", () => {
          flood.stalledBodiesEnded++;
          end();
        });
        socket.once("close", () => {
          clearInterval(timer);
          resolve();
        });
        socket.write(
          `POST /secretgate.v1.SecretService/Read HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\nContent-Length: ${JUNK_BYTES}\r\n\r\n`,
        );
        socket.write(body);
      });
      await pause();
    }
  };
  const overGrpc = async () => {
    while (!until()) {
      const session = http2Connect(`http://${grpcAddress}`);
      session.on("error", () => undefined);
      const streams = Array.from({ length: STALLED_PER_PORT / 4 }, async () => {
        while (!until() && !session.closed && !session.destroyed) {
          await new Promise<void>((resolve) => {
            flood.stalledBodiesOpened++;
            let stream: ClientHttp2Stream;
            try {
              stream = session.request({
                ":method": "POST",
                ":path": "/secretgate.v1.SecretService/Read",
                "content-type": "application/grpc",
                te: "trailers",
              });
            } catch {
              return resolve();
            }
            // Ends with the attack whatever the stream is doing (still connecting, or held).
            const timer = setInterval(() => {
              if (!until()) return;
              clearInterval(timer);
              stream.destroy();
              resolve();
            }, 250);
            stream.on("error", () => undefined);
            stream.once("response", () => flood.stalledBodiesEnded++);
            stream.resume();
            stream.once("close", () => {
              clearInterval(timer);
              resolve();
            });
            stream.write(message);
          });
          await pause();
        }
      });
      await Promise.all(streams);
      session.destroy();
      await pause();
    }
  };
  await Promise.all([...Array.from({ length: STALLED_PER_PORT }, overHttp), ...Array.from({ length: 4 }, overGrpc)]);
}

/**
 * Holds sockets that say nothing, up to max_connections on each port, reopening those the server
 * closes (after header_timeout_ms); counts the ones refused at once, past the limit.
 */
async function holdIdleSockets(
  addresses: string[],
  until: () => boolean,
  flood: HostileLoadResult["flood"],
  sockets: Set<Socket>,
): Promise<void> {
  await Promise.all(
    addresses.map(async (address, index) => {
      const [host, port] = splitAddress(address);
      const open = new Set<Socket>();
      while (!until()) {
        const missing = MAX_CONNECTIONS - open.size;
        const batch = Array.from(
          { length: Math.min(missing, 256) },
          () =>
            new Promise<void>((resolve) => {
              const opened = Date.now();
              const socket = netConnect({ host, port });
              flood.idleSocketsOpened++;
              open.add(socket);
              sockets.add(socket);
              socket.once("connect", () => {
                flood.idleSocketsHeld[index] = Math.max(flood.idleSocketsHeld[index]!, open.size);
                resolve();
              });
              socket.on("error", () => resolve());
              socket.once("close", () => {
                open.delete(socket);
                sockets.delete(socket);
                if (Date.now() - opened < 1000) flood.idleSocketsRefusedAtOnce++;
                resolve();
              });
            }),
        );
        await Promise.all(batch);
        await new Promise((resolve) => setTimeout(resolve, missing > 0 ? 50 : 500));
      }
      for (const socket of open) socket.destroy();
    }),
  );
}
