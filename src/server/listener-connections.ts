import type { Socket } from "node:net";
import { reportListenerConnections } from "../metrics/metrics.js";
import { ConnectionWatch, type WatchOwner } from "./connection-watch.js";
import type { FaultKind, ListenerFaults } from "./listener-faults.js";

/** One peer's connections on a listener. */
class Peer {
  count = 0;
  /** Its connections that never completed a request and have none in flight, by accept, oldest first. */
  readonly fresh = new Set<ConnectionWatch>();
  /** Its connections that completed a request and have none in flight, idle longest first. */
  readonly idle = new Set<ConnectionWatch>();

  constructor(readonly key: string) {}

  /**
   * The connection whose close costs the least: the one that has gone longest without completing a
   * request — counted from its last request's end, or, if it never completed one, from its accept.
   */
  leastUseful(): ConnectionWatch | undefined {
    const fresh = first(this.fresh);
    const idle = first(this.idle);
    if (!fresh || !idle) return fresh ?? idle;
    return fresh.acceptedAt <= idle.idleSince ? fresh : idle;
  }
}

/**
 * The connections one listener holds, by peer, and what happens when a new one arrives at a bound
 * (docs/security.md, "Connections"): a peer holding `maxConnectionsPerPeer` makes room among its own
 * connections, and a full listener (`maxConnections`) makes room among those of the peer holding the
 * most. Either way the room is made by closing the least useful connection: the one that has gone
 * longest without completing a request (one that never completed a request counts from its accept,
 * so a flood of connections that do nothing displaces its own oldest first, and a connection just
 * made is not closed in favour of one idle for minutes). A connection with a request in flight is
 * never closed for room; when there is none to close, the new connection is.
 *
 * So one address cannot fill a listener, and a flood of connections that do nothing (silent,
 * stalled in a header block, reconnecting) displaces only its own kind from its own peer, while
 * connections that work keep their places. Every choice is a few Set operations: peers are kept
 * bucketed by how many connections they hold, and each peer's closable connections in the order
 * they would be closed.
 *
 * It also runs the deadlines of every connection (connection-watch.ts) on one timer, which runs
 * while the listener holds connections.
 */
export class ListenerConnections implements WatchOwner {
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly maxPerPeer: number;
  private readonly watches = new Set<ConnectionWatch>();
  private readonly peers = new Map<string, Peer>();
  /** Peers by how many connections they hold. */
  private readonly byCount = new Map<number, Set<Peer>>();
  private mostHeld = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly checkEveryMs: number;

  constructor(
    limits: { headerTimeoutMs: number; idleTimeoutMs: number; maxConnections: number; maxConnectionsPerPeer: number },
    private readonly faults: ListenerFaults,
    readonly now: () => number = Date.now,
  ) {
    this.headerTimeoutMs = limits.headerTimeoutMs;
    this.idleTimeoutMs = limits.idleTimeoutMs;
    this.maxConnections = limits.maxConnections;
    this.maxPerPeer = limits.maxConnectionsPerPeer;
    // A deadline is applied within a quarter of the shorter timeout after it passes.
    this.checkEveryMs = Math.max(25, Math.floor(Math.min(limits.headerTimeoutMs, limits.idleTimeoutMs) / 4));
    reportListenerConnections(faults.listener, () => ({ open: this.watches.size, busiestPeer: this.mostHeld }));
  }

  get size(): number {
    return this.watches.size;
  }

  /** The number of connections `peer` (as peerOf names it) holds. */
  heldBy(peer: string): number {
    return this.peers.get(peer)?.count ?? 0;
  }

  /**
   * A connection was accepted: its watch, or undefined when there was no room (it is closed, and
   * counted). Making room closes another connection first.
   */
  admit(socket: Socket, tls: boolean): ConnectionWatch | undefined {
    const key = peerOf(socket.remoteAddress);
    if (key === undefined) {
      // Gone before it was seen: nothing to hold.
      socket.destroy();
      return undefined;
    }
    const held = this.peers.get(key);
    if (held && held.count >= this.maxPerPeer) {
      const victim = held.leastUseful();
      if (!victim) return this.refuse(socket, "peer_connection_limit");
      this.replace(victim);
    } else if (this.watches.size >= this.maxConnections) {
      const victim = this.leastUsefulOfHeaviest();
      if (!victim) return this.refuse(socket, "connection_limit");
      this.replace(victim);
    }
    let peer = this.peers.get(key);
    if (!peer) {
      peer = new Peer(key);
      this.peers.set(key, peer);
    }
    const watch = new ConnectionWatch(socket, key, this, tls);
    this.watches.add(watch);
    this.setCount(peer, peer.count + 1);
    peer.fresh.add(watch);
    socket.once("close", () => this.remove(watch));
    this.timer ??= setInterval(() => this.sweep(), this.checkEveryMs).unref();
    return watch;
  }

  busy(watch: ConnectionWatch): void {
    const peer = this.peers.get(watch.peer);
    peer?.fresh.delete(watch);
    peer?.idle.delete(watch);
  }

  idle(watch: ConnectionWatch): void {
    if (!this.watches.has(watch)) return;
    const peer = this.peers.get(watch.peer)!;
    peer.idle.delete(watch);
    peer.idle.add(watch);
  }

  deadline(kind: FaultKind): void {
    this.faults.peer(kind);
  }

  /** Stops the timer (the listener is closing; its connections go with it). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private refuse(socket: Socket, kind: FaultKind): undefined {
    this.faults.peer(kind);
    socket.destroy();
    return undefined;
  }

  private replace(victim: ConnectionWatch): void {
    this.faults.peer("connection_replaced");
    this.remove(victim);
    victim.destroy();
  }

  private leastUsefulOfHeaviest(): ConnectionWatch | undefined {
    for (let count = this.mostHeld; count > 0; count--) {
      for (const peer of this.byCount.get(count) ?? []) {
        const victim = peer.leastUseful();
        if (victim) return victim;
      }
    }
    return undefined;
  }

  private remove(watch: ConnectionWatch): void {
    if (!this.watches.delete(watch)) return;
    const peer = this.peers.get(watch.peer)!;
    peer.fresh.delete(watch);
    peer.idle.delete(watch);
    this.setCount(peer, peer.count - 1);
    if (peer.count === 0) this.peers.delete(peer.key);
    if (this.watches.size === 0) this.stop();
  }

  private setCount(peer: Peer, count: number): void {
    const before = this.byCount.get(peer.count);
    before?.delete(peer);
    if (before?.size === 0) this.byCount.delete(peer.count);
    peer.count = count;
    if (count > 0) {
      let bucket = this.byCount.get(count);
      if (!bucket) {
        bucket = new Set();
        this.byCount.set(count, bucket);
      }
      bucket.add(peer);
    }
    if (count > this.mostHeld) this.mostHeld = count;
    while (this.mostHeld > 0 && !this.byCount.has(this.mostHeld)) this.mostHeld--;
  }

  private sweep(): void {
    const now = this.now();
    for (const watch of this.watches) watch.check(now);
  }
}

function first<T>(set: Set<T>): T | undefined {
  for (const item of set) return item;
  return undefined;
}

/**
 * The peer a connection counts against: its IPv4 address (an IPv4-mapped IPv6 address as IPv4), or
 * its IPv6 address's /64 — one host's share of addresses, which a single machine can use all of.
 * Undefined for a socket already closed.
 */
export function peerOf(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const plain = address.split("%", 1)[0]!.toLowerCase();
  if (!plain.includes(":")) return plain;
  if (plain.startsWith("::ffff:") && plain.includes(".")) return plain.slice("::ffff:".length);
  const [head = "", tail] = plain.split("::", 2);
  const groups = (text: string) =>
    text === "" ? [] : text.split(":").flatMap((group) => (group.includes(".") ? ["0", "0"] : [group]));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all =
    tail === undefined
      ? front
      : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill("0"), ...back];
  return `${all
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(":")}::/64`;
}
