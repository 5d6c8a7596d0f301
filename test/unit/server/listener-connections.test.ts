import { EventEmitter } from "node:events";
import type { Http2Session } from "node:http2";
import type { Socket } from "node:net";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { listenerErrorCell } from "../../../src/metrics/metrics.js";
import { type ConnectionWatch, GOAWAY_GRACE_MS } from "../../../src/server/connection-watch.js";
import { ListenerConnections, peerOf } from "../../../src/server/listener-connections.js";
import { type FaultKind, ListenerFaults } from "../../../src/server/listener-faults.js";

/** A socket as ListenerConnections sees one: an address, a close event, destroy(), what it wrote and has yet to. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  writableLength = 0;
  bytesWritten = 0;
  constructor(readonly remoteAddress: string | undefined) {
    super();
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      queueMicrotask(() => this.emit("close"));
    }
    return this;
  }
}

/** An HTTP/2 session as a watch sees one: its events, nghttp2's last stream whose header block began, close(). */
class FakeSession extends EventEmitter {
  closed = false;
  destroyed = false;
  state = { lastProcStreamID: 0 };
  close(): void {
    this.closed = true;
  }
}

const HEADER_MS = 1_000;
const IDLE_MS = 10_000;
let clock = 1_000_000;
const now = () => clock;

function listener(maxConnections: number, maxConnectionsPerPeer: number): ListenerConnections {
  return new ListenerConnections(
    { headerTimeoutMs: HEADER_MS, idleTimeoutMs: IDLE_MS, maxConnections, maxConnectionsPerPeer },
    new ListenerFaults("http", pino({ level: "silent" })),
    now,
  );
}

function counted(kind: FaultKind): () => number {
  const cell = listenerErrorCell("http", kind);
  const before = cell.value;
  return () => cell.value - before;
}

/** Admits a connection from `address`; its socket and watch (undefined when refused). */
function connect(
  connections: ListenerConnections,
  address: string,
): { socket: FakeSocket; watch: ConnectionWatch | undefined } {
  const socket = new FakeSocket(address);
  const watch = connections.admit(socket as unknown as Socket, false);
  watch?.serving(socket as unknown as Socket);
  return { socket, watch };
}

/** A connection that completed one request at the current time. */
function completedRequest(watch: ConnectionWatch): void {
  watch.requestStarted();
  watch.requestEnded();
}

afterEach(() => {
  clock += 1_000_000;
  vi.useRealTimers();
});

describe("peerOf", () => {
  it("names an IPv4 peer by its address, an IPv4-mapped one as IPv4, and an IPv6 one by its /64", () => {
    expect(peerOf("127.0.0.2")).toBe("127.0.0.2");
    expect(peerOf("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(peerOf("2001:db8:1:2:3:4:5:6")).toBe("2001:db8:1:2::/64");
    expect(peerOf("2001:db8:1:2::9")).toBe(peerOf("2001:0DB8:0001:0002:ffff::1"));
    expect(peerOf("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(peerOf("::1")).toBe("0:0:0:0::/64");
    expect(peerOf("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(peerOf("64:ff9b::10.0.0.1")).toBe("64:ff9b:0:0::/64");
    expect(peerOf(undefined)).toBeUndefined();
  });
});

describe("ListenerConnections", () => {
  it("makes room at a peer's bound among its own connections: the one longest without completing a request", async () => {
    const connections = listener(100, 3);
    const replaced = counted("connection_replaced");
    const idleLongest = connect(connections, "10.0.0.1");
    completedRequest(idleLongest.watch!);
    clock += 100;
    const fresh = connect(connections, "10.0.0.1");
    clock += 100;
    const idleLater = connect(connections, "10.0.0.1");
    completedRequest(idleLater.watch!);
    const other = connect(connections, "10.0.0.2");

    // idleLongest completed its request before fresh was accepted: it goes first, then fresh.
    connect(connections, "10.0.0.1");
    expect([idleLongest.socket.destroyed, fresh.socket.destroyed, idleLater.socket.destroyed]).toEqual([
      true,
      false,
      false,
    ]);
    connect(connections, "10.0.0.1");
    expect([fresh.socket.destroyed, idleLater.socket.destroyed]).toEqual([true, false]);
    expect(other.socket.destroyed).toBe(false);
    expect(connections.heldBy("10.0.0.1")).toBe(3);
    expect(replaced()).toBe(2);
    await Promise.resolve();
    expect(connections.size).toBe(4);
  });

  it("refuses a peer's new connection when every one of its connections has a request in flight", () => {
    const connections = listener(100, 2);
    const refused = counted("peer_connection_limit");
    const a = connect(connections, "10.0.0.1");
    const b = connect(connections, "10.0.0.1");
    a.watch!.requestStarted();
    b.watch!.requestStarted();
    const c = connect(connections, "10.0.0.1");
    expect(c.watch).toBeUndefined();
    expect(c.socket.destroyed).toBe(true);
    expect(refused()).toBe(1);
    // Once one of them is idle again, it makes room.
    b.watch!.requestEnded();
    expect(connect(connections, "10.0.0.1").watch).toBeDefined();
    expect([a.socket.destroyed, b.socket.destroyed]).toEqual([false, true]);
  });

  it("makes room in a full listener among the connections of the peer holding the most", () => {
    const connections = listener(4, 100);
    const heavy = [
      connect(connections, "10.0.0.1"),
      connect(connections, "10.0.0.1"),
      connect(connections, "10.0.0.1"),
    ];
    const light = connect(connections, "10.0.0.2");
    // The light peer's connection is the oldest, yet the heavy peer's oldest makes room.
    const newcomer = connect(connections, "10.0.0.3");
    expect(newcomer.watch).toBeDefined();
    expect(heavy.map(({ socket }) => socket.destroyed)).toEqual([true, false, false]);
    expect(light.socket.destroyed).toBe(false);
  });

  it("passes over a heaviest peer whose connections are all busy, and refuses when every connection is", () => {
    const connections = listener(3, 100);
    const refused = counted("connection_limit");
    const heavy = [connect(connections, "10.0.0.1"), connect(connections, "10.0.0.1")];
    for (const { watch } of heavy) watch!.requestStarted();
    const light = connect(connections, "10.0.0.2");
    expect(connect(connections, "10.0.0.3").watch).toBeDefined();
    expect(light.socket.destroyed).toBe(true);
    expect(heavy.some(({ socket }) => socket.destroyed)).toBe(false);
    // Now: two busy (10.0.0.1) and one fresh (10.0.0.3).
    const third = connect(connections, "10.0.0.4");
    expect(third.watch).toBeDefined();
    third.watch!.requestStarted();
    const last = connect(connections, "10.0.0.5");
    expect(last.watch).toBeUndefined();
    expect(refused()).toBe(1);
  });

  it("forgets a closed connection", async () => {
    const connections = listener(2, 2);
    const a = connect(connections, "10.0.0.1");
    connect(connections, "10.0.0.1");
    a.socket.destroy();
    await Promise.resolve();
    expect(connections.heldBy("10.0.0.1")).toBe(1);
    const b = connect(connections, "10.0.0.2");
    expect(b.watch).toBeDefined();
    expect(connections.size).toBe(2);
  });
});

describe("ConnectionWatch", () => {
  function watched(): { socket: FakeSocket; watch: ConnectionWatch; connections: ListenerConnections } {
    const connections = listener(100, 100);
    const { socket, watch } = connect(connections, "10.0.0.1");
    return { socket, watch: watch!, connections };
  }

  it("closes a connection not proven within the header timeout", () => {
    const { socket, watch } = watched();
    watch.check(clock + HEADER_MS - 1);
    expect(socket.destroyed).toBe(false);
    watch.check(clock + HEADER_MS);
    expect(socket.destroyed).toBe(true);
  });

  it("closes an HTTP/2 connection whose header block has not ended within the header timeout of being seen, busy or not", () => {
    const timeouts = counted("header_timeout");
    const { socket, watch } = watched();
    const session = new FakeSession();
    watch.watchHttp2(session as unknown as Http2Session);
    session.emit("remoteSettings");
    const stream = Object.assign(new EventEmitter(), { id: 1 });
    session.state.lastProcStreamID = 1;
    session.emit("stream", stream);
    // Stream 1 is in flight; stream 3's header block begins and does not end.
    session.state.lastProcStreamID = 3;
    const seen = clock + 10;
    watch.check(seen);
    watch.check(seen + HEADER_MS - 1);
    expect(socket.destroyed).toBe(false);
    watch.check(seen + HEADER_MS);
    expect(socket.destroyed).toBe(true);
    expect(timeouts()).toBe(1);
  });

  it("does not count a header block that ended as pending", () => {
    const { socket, watch } = watched();
    const session = new FakeSession();
    watch.watchHttp2(session as unknown as Http2Session);
    session.emit("remoteSettings");
    session.state.lastProcStreamID = 1;
    watch.check(clock);
    const stream = Object.assign(new EventEmitter(), { id: 1 });
    session.emit("stream", stream);
    watch.check(clock + HEADER_MS * 2);
    expect(socket.destroyed).toBe(false);
    stream.emit("close");
    watch.check(clock + HEADER_MS * 3);
    expect(socket.destroyed).toBe(false);
  });

  it("closes a connection whose answers wait for a peer that takes none of them for the idle timeout, and not one that takes some", () => {
    const { socket, watch } = watched();
    const session = new FakeSession();
    watch.watchHttp2(session as unknown as Http2Session);
    session.emit("remoteSettings");
    const stream = Object.assign(new EventEmitter(), { id: 1, bufferSize: 0 });
    session.state.lastProcStreamID = 1;
    session.emit("stream", stream);
    // A call in flight with nothing to write is not stalled, however long it runs.
    watch.check(clock + IDLE_MS * 3);
    expect(socket.destroyed).toBe(false);
    // Its answer waits for a window the peer opens now and then: a slow reader.
    stream.bufferSize = 500;
    const waiting = clock + IDLE_MS * 3;
    watch.check(waiting);
    socket.bytesWritten += 100;
    watch.check(waiting + IDLE_MS - 1);
    watch.check(waiting + IDLE_MS * 2 - 2);
    expect(socket.destroyed).toBe(false);
    // Then nothing more is written.
    watch.check(waiting + IDLE_MS * 3);
    expect(socket.destroyed).toBe(true);
  });

  it("closes an HTTP/1 connection whose answer the peer does not read, for the idle timeout", () => {
    const { socket, watch } = watched();
    watch.requestStarted();
    socket.writableLength = 64 * 1024;
    watch.check(clock + 1);
    watch.check(clock + IDLE_MS);
    expect(socket.destroyed).toBe(false);
    watch.check(clock + IDLE_MS + 1);
    expect(socket.destroyed).toBe(true);
  });

  it("sends an idle HTTP/2 connection a GOAWAY, and destroys it a grace later if it has not closed", () => {
    vi.useFakeTimers({ toFake: ["setTimeout"] });
    const { socket, watch } = watched();
    const session = new FakeSession();
    watch.watchHttp2(session as unknown as Http2Session);
    session.emit("remoteSettings");
    watch.check(clock + IDLE_MS - 1);
    expect(session.closed).toBe(false);
    watch.check(clock + IDLE_MS);
    expect(session.closed).toBe(true);
    expect(socket.destroyed).toBe(false);
    vi.advanceTimersByTime(GOAWAY_GRACE_MS);
    expect(socket.destroyed).toBe(true);
  });
});
