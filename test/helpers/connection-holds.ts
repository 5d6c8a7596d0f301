import { request as httpRequest } from "node:http";
import { connect as http2Connect } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ReadRequestSchema, ReadResponseSchema } from "../../gen/secretgate/v1/secret_service_pb.js";
import { CLIENT_START, envelope, FrameType, frame, grpcRequestFields, headers, SETTINGS_ACK } from "./http2-frames.js";
import { splitAddress } from "./raw-socket.js";

/**
 * What one client address can do to hold a listener's connections (issue 24), for the tests that
 * check no single peer can fill a listener and for the benchmark that measures it: many
 * connections from one address (another loopback address, e.g. 127.0.0.2, stands in for another
 * machine), each doing one thing, reopened when the server closes them. Every hold ends by itself
 * once `until()` turns true.
 */
export interface HoldTarget {
  /** host:port */
  address: string;
  /** The local address the connections come from. */
  from: string;
  /** Speak TLS (ALPN h2) first. */
  tls?: boolean;
}

export interface HoldCounts {
  /** Connections opened. */
  opened: number;
  /** Connections the server closed (or reset). */
  closedByServer: number;
  /** The most connections open at once (as the client sees them). */
  mostOpen: number;
}

/** What a connection does once it is up; returns what to stop when it closes. */
// biome-ignore lint/suspicious/noConfusingVoidType: a behaviour that needs no stopping returns nothing
export type HoldBehaviour = (socket: Socket) => (() => void) | void;

/** Says nothing: a connection that holds a slot until the server's deadline (or forever). */
export const silent: HoldBehaviour = () => undefined;

/**
 * The HTTP/2 preface, an empty SETTINGS frame and one HEADERS frame without END_HEADERS (10 bytes
 * of HPACK: :method GET, :scheme http, :path /, and a literal :authority), then nothing: the header
 * block never ends.
 */
export const STALLED_HEADERS = Buffer.concat([
  CLIENT_START,
  frame(FrameType.HEADERS, 0, 1, Buffer.from([0x82, 0x86, 0x84, 0x41, 0x05, ...Buffer.from("local")])),
]);

export const stalledHeaders: HoldBehaviour = (socket) => void socket.write(STALLED_HEADERS);

/**
 * A keep-alive client that sends one cheap request every `intervalMs`: `GET /healthz` over
 * HTTP/1.1 (the HTTP port), or a new HTTP/2 stream each time (the gRPC port: a Health/Check
 * without a message, which grpc-js answers with an error status at once).
 */
export function keepAlive(protocol: "http1" | "http2", intervalMs: number): HoldBehaviour {
  return (socket) => {
    let streamId = 1;
    const send = () => {
      if (protocol === "http1") return socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      const request = headers(streamId, grpcRequestFields("/grpc.health.v1.Health/Check"), { endStream: true });
      streamId += 2;
      socket.write(request);
    };
    if (protocol === "http2") socket.write(Buffer.concat([CLIENT_START, SETTINGS_ACK]));
    send();
    const timer = setInterval(send, intervalMs);
    return () => clearInterval(timer);
  };
}

/**
 * Keeps `count` connections from `target.from` open to `target.address`, each doing `behaviour`;
 * one the server closes is reopened after `reopenAfterMs` (0: at once, a reconnect churn). Resolves
 * once `until()` is true and every connection is closed.
 */
export async function hold(
  target: HoldTarget,
  count: number,
  behaviour: HoldBehaviour,
  until: () => boolean,
  reopenAfterMs = 50,
): Promise<HoldCounts> {
  const counts: HoldCounts = { opened: 0, closedByServer: 0, mostOpen: 0 };
  const open = new Set<Socket>();
  const [host, port] = splitAddress(target.address);
  const stopper = setInterval(() => {
    if (!until()) return;
    for (const socket of open) socket.destroy();
  }, 100);
  const once = () =>
    new Promise<void>((resolve) => {
      const tcp = netConnect({ host, port, localAddress: target.from });
      const socket: Socket = target.tls
        ? tlsConnect({ socket: tcp, rejectUnauthorized: false, ALPNProtocols: ["h2"] })
        : tcp;
      counts.opened++;
      // biome-ignore lint/suspicious/noConfusingVoidType: what a HoldBehaviour returns
      let stop: (() => void) | void;
      let ours = false;
      open.add(socket);
      socket.on("data", () => undefined);
      tcp.on("error", () => undefined);
      socket.on("error", () => undefined);
      socket.once(target.tls ? "secureConnect" : "connect", () => {
        counts.mostOpen = Math.max(counts.mostOpen, open.size);
        if (until()) {
          ours = true;
          socket.destroy();
          return;
        }
        stop = behaviour(socket);
      });
      socket.once("close", () => {
        stop?.();
        open.delete(socket);
        tcp.destroy();
        if (!ours && !until()) counts.closedByServer++;
        resolve();
      });
    });
  const slot = async () => {
    while (!until()) {
      await once();
      if (reopenAfterMs > 0) await new Promise((resolve) => setTimeout(resolve, reopenAfterMs));
      // A churn reopens at once, but lets the event loop breathe between rounds.
      else await new Promise((resolve) => setImmediate(resolve));
    }
  };
  try {
    await Promise.all(Array.from({ length: count }, slot));
  } finally {
    clearInterval(stopper);
  }
  return counts;
}

export interface HonestReads {
  ok: number;
  failed: number;
  firstFailure?: string;
  /** Milliseconds each successful Read took, connection included. */
  latenciesMs: number[];
}

/**
 * Reads `name` over a new connection of its own every `intervalMs` until `until()` is true, on
 * the gRPC port (gRPC over HTTP/2) or the HTTP port (Connect JSON over HTTP/1.1), from 127.0.0.1.
 * A Read that fails, finds nothing or takes longer than `timeoutMs` counts as failed.
 */
export async function honestReads(
  port: "grpc" | "http",
  address: string,
  token: string,
  name: string,
  intervalMs: number,
  until: () => boolean,
  timeoutMs = 10_000,
): Promise<HonestReads> {
  const result: HonestReads = { ok: 0, failed: 0, latenciesMs: [] };
  const pending: Array<Promise<void>> = [];
  while (!until()) {
    const started = performance.now();
    pending.push(
      (port === "grpc" ? readOverGrpc : readOverHttp)(address, token, name, timeoutMs).then(
        () => {
          result.ok++;
          result.latenciesMs.push(performance.now() - started);
        },
        (error: unknown) => {
          result.failed++;
          result.firstFailure ??= (error as Error).message;
        },
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  await Promise.all(pending);
  return result;
}

const readBody = (name: string) => toBinary(ReadRequestSchema, create(ReadRequestSchema, { names: [name] }));

/** One Read over a new HTTP/2 connection to the gRPC port; resolves once it found the name. */
export function readOverGrpc(address: string, token: string, name: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://${address}`);
    const chunks: Buffer[] = [];
    const finish = (error?: Error) => {
      clearTimeout(timer);
      session.destroy();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    session.on("error", (error) => finish(error));
    session.on("close", () => finish(new Error("the connection closed before the answer")));
    const stream = session.request({
      ":method": "POST",
      ":path": "/secretgate.v1.SecretService/Read",
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${token}`,
    });
    stream.on("error", (error) => finish(error));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("trailers", (trailers) => {
      const status = trailers["grpc-status"];
      if (status !== "0")
        return finish(new Error(`grpc-status ${String(status)}: ${String(trailers["grpc-message"])}`));
      const body = Buffer.concat(chunks);
      const found = fromBinary(ReadResponseSchema, body.subarray(5)).results[0]?.found;
      finish(found ? undefined : new Error("the Read found nothing"));
    });
    stream.on("response", (headers) => {
      // A trailers-only answer (an error) comes as the response headers.
      if (headers["grpc-status"] !== undefined && headers["grpc-status"] !== "0")
        finish(new Error(`grpc-status ${String(headers["grpc-status"])}: ${String(headers["grpc-message"])}`));
    });
    stream.end(envelope(Buffer.from(readBody(name))));
  });
}

/** One Read (Connect JSON) over a new HTTP/1.1 connection to the HTTP port; resolves once it found the name. */
export function readOverHttp(address: string, token: string, name: string, timeoutMs = 10_000): Promise<void> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ names: [name] });
    const request = httpRequest(
      {
        host,
        port,
        method: "POST",
        path: "/secretgate.v1.SecretService/Read",
        agent: false,
        timeout: timeoutMs,
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${token}`,
          "content-length": Buffer.byteLength(body),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (response.statusCode !== 200)
            return reject(new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`));
          const found = (JSON.parse(text) as { results?: Array<{ found?: boolean }> }).results?.[0]?.found;
          if (found) resolve();
          else reject(new Error("the Read found nothing"));
        });
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on("error", reject);
    request.end(body);
  });
}
