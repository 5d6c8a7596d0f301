import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export interface RawTarget {
  /** host:port */
  address: string;
  /** Speak TLS first, offering these ALPN protocols (none: no ALPN extension). */
  tls?: { alpn?: string[] };
  /** The local address to connect from (another loopback address stands in for another peer). */
  from?: string;
}

export interface Exchange {
  /** Everything the server sent. */
  received: Buffer;
  /** Whether the server closed (or reset) the connection before we gave up waiting. */
  closedByServer: boolean;
}

/**
 * Opens a connection, sends `chunks` one after another (a short pause between them, so each may
 * arrive in its own read), then waits until the server closes the connection, or until it has
 * been quiet for `quietMs`, at most `maxMs` in all. Never throws for what the server does: a
 * reset or a refused connection is an outcome like any other.
 */
export function exchange(
  target: RawTarget,
  chunks: ReadonlyArray<Buffer | string>,
  options: {
    quietMs?: number;
    maxMs?: number;
    /** Pause between chunks (5 ms by default). */
    gapMs?: number;
    /** End with a TCP reset instead of a close. */
    reset?: boolean;
  } = {},
): Promise<Exchange> {
  const quietMs = options.quietMs ?? 250;
  const maxMs = options.maxMs ?? 3_000;
  const [host, port] = splitAddress(target.address);
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    let settled = false;
    let quiet: NodeJS.Timeout | undefined;
    // TLS runs over a TCP socket of our own, which is what a reset resets.
    const tcp = netConnect({ host, port, ...(target.from ? { localAddress: target.from } : {}) });
    const socket: Socket = target.tls
      ? tlsConnect({
          socket: tcp,
          rejectUnauthorized: false,
          ...(target.tls.alpn ? { ALPNProtocols: target.tls.alpn } : {}),
        })
      : tcp;
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(quiet);
      clearTimeout(limit);
      if (options.reset && !tcp.destroyed) tcp.resetAndDestroy();
      socket.destroy();
      resolve({ received: Buffer.concat(received), closedByServer });
    };
    const limit = setTimeout(() => finish(false), maxMs);
    const rearm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(false), quietMs);
    };
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk);
      rearm();
    });
    tcp.on("error", () => finish(true));
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("end", () => finish(true));
    const connected = target.tls ? "secureConnect" : "connect";
    socket.once(connected, async () => {
      for (const [index, chunk] of chunks.entries()) {
        if (settled) return;
        if (index > 0) await new Promise((next) => setTimeout(next, options.gapMs ?? 5));
        socket.write(chunk);
      }
      rearm();
    });
  });
}

/** Opens a connection and resolves once the server has closed it (true) or `maxMs` passed (false). */
export function closedWithin(target: RawTarget, send: ReadonlyArray<Buffer | string>, maxMs: number): Promise<boolean> {
  return exchange(target, send, { quietMs: maxMs, maxMs }).then((result) => result.closedByServer);
}

export function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(":");
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
