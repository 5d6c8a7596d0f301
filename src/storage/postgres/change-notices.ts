import { randomUUID } from "node:crypto";
import pg from "pg";
import type { Logger } from "pino";

export const CHANGE_CHANNEL = "secretgate_changes";

/** What changed — names only, never values or settings. */
export type ChangeNotice =
  /**
   * `backend` names the back end the name lives in (absent in notices from replicas of earlier
   * releases, which had one: the default); `location` is where in it (CachedDriver.locationOf: a
   * digest, never the settings; absent in notices from replicas of earlier releases); `version`
   * is the version a write created (absent for deletes and failed writes).
   */
  | { kind: "secret"; backend?: string; teamId: string; location?: string; name: string; version?: string }
  | { kind: "team"; teamId: string };

interface WireNotice {
  /** The publishing replica, so it skips its own notices. */
  origin: string;
  notice: ChangeNotice;
}

export interface ChangeNoticeHandlers {
  /** Another replica changed something this replica may have cached. */
  changed(notice: ChangeNotice): void;
  /**
   * The listening connection is lost (or stopped answering): notices are missed from now on.
   * `heardAt` is when it last answered (epoch ms): changes since then may have gone unheard.
   */
  lost(heardAt: number): void;
  /** The listening connection came back after a drop: notices may have been missed. */
  resync(): void;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;
/**
 * The listening connection is asked a trivial query this often, and lost when it takes longer
 * than HEARTBEAT_TIMEOUT_MS to answer: a database that vanished without closing the connection
 * (a network partition, a host gone) is noticed within their sum, not when TCP gives up.
 */
const HEARTBEAT_MS = 2_000;
const HEARTBEAT_TIMEOUT_MS = 2_000;

/**
 * Cross-replica cache invalidation over PostgreSQL NOTIFY/LISTEN. Every replica listens on one
 * channel on a connection of its own; publishing goes through the shared pool. When the
 * listening connection drops, the replica reconnects with backoff and then resyncs (drops its
 * caches), because notices sent meanwhile were lost.
 */
export class ChangeNotices {
  private readonly origin = randomUUID();
  private client: pg.Client | undefined;
  private listening = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** When the listening connection last answered (a heartbeat, a notice, LISTEN itself), epoch ms. */
  private heardAt = 0;

  private constructor(
    private readonly url: string,
    private readonly pool: pg.Pool,
    private readonly applicationName: string,
    private readonly handlers: ChangeNoticeHandlers,
    private readonly logger: Logger,
  ) {}

  static async start(options: {
    url: string;
    pool: pg.Pool;
    applicationName: string;
    handlers: ChangeNoticeHandlers;
    logger: Logger;
  }): Promise<ChangeNotices> {
    const notices = new ChangeNotices(
      options.url,
      options.pool,
      options.applicationName,
      options.handlers,
      options.logger,
    );
    await notices.listen();
    return notices;
  }

  /** True while the listening connection is up (readiness). */
  get connected(): boolean {
    return this.listening;
  }

  async publish(notice: ChangeNotice): Promise<void> {
    const payload: WireNotice = { origin: this.origin, notice };
    await this.pool.query("SELECT pg_notify($1, $2)", [CHANGE_CHANNEL, JSON.stringify(payload)]);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeatTimer);
    this.listening = false;
    await this.client?.end().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      application_name: this.applicationName,
      connectionTimeoutMillis: 5_000,
    });
    this.client = client;
    client.on("notification", (message) => this.receive(message.payload));
    client.on("error", (error) => this.lost(client, error.message));
    client.on("end", () => this.lost(client, "connection closed"));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.listening = true;
    this.failures = 0;
    this.heardAt = Date.now();
    this.startHeartbeat(client);
  }

  private startHeartbeat(client: pg.Client): void {
    clearInterval(this.heartbeatTimer);
    let waiting = false;
    this.heartbeatTimer = setInterval(() => {
      if (waiting || client !== this.client) return;
      waiting = true;
      const timeout = setTimeout(
        () => this.lost(client, `no answer within ${HEARTBEAT_TIMEOUT_MS} ms`),
        HEARTBEAT_TIMEOUT_MS,
      );
      client
        .query("SELECT 1")
        .then(
          () => {
            this.heardAt = Date.now();
          },
          (error: unknown) => this.lost(client, (error as Error).message),
        )
        .finally(() => {
          clearTimeout(timeout);
          waiting = false;
        });
    }, HEARTBEAT_MS);
    this.heartbeatTimer.unref();
  }

  private receive(payload: string | undefined): void {
    let wire: WireNotice;
    try {
      wire = JSON.parse(payload ?? "") as WireNotice;
    } catch {
      this.logger.warn("ignored a malformed change notice");
      return;
    }
    this.heardAt = Date.now();
    if (wire.origin === this.origin) return;
    this.handlers.changed(wire.notice);
  }

  private lost(client: pg.Client, reason: string): void {
    // Only a connection that was listening is "lost"; a failed reconnect attempt is retried by its caller.
    if (client !== this.client || !this.listening || this.closed) return;
    this.listening = false;
    clearInterval(this.heartbeatTimer);
    this.logger.warn({ reason }, "lost the PostgreSQL change-notice connection; reconnecting");
    client.end().catch(() => undefined);
    this.handlers.lost(this.heardAt);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.failures);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed) return;
      this.listen().then(
        () => {
          this.logger.warn("change-notice connection restored; dropping cached values that may have changed meanwhile");
          this.handlers.resync();
        },
        (error: unknown) => {
          this.failures++;
          this.logger.warn({ reason: (error as Error).message }, "cannot reconnect to PostgreSQL yet");
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }
}
