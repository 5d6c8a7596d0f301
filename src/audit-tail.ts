import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  AuditRecordSchema,
  type TailAuditResponse,
  TailAuditResponseSchema,
} from "../gen/secretgate/v1/admin_service_pb.js";
import type { AuditFeed, AuditRecordView } from "./core/audit-feed.js";
import { Code, ServiceError } from "./core/errors.js";

/** Subscribers listening at once (each holds a stream and up to MAX_QUEUED records). */
export const MAX_SUBSCRIBERS = 16;
/** Records a subscriber may fall behind before it is dropped: a slow reader never holds more memory than this. */
export const MAX_QUEUED = 1024;
/** Names kept per record (a record is at most 4 KiB, so this bounds nothing but the message's list). */
const MAX_NAMES = 100;

interface Subscriber {
  /** The access decision's word on each record (AdminScope.maySeeRecord). */
  visible: (record: AuditRecordView) => boolean;
  queue: TailAuditResponse[];
  /** Why the stream ends; set once. */
  end?: ServiceError | "cancelled";
  wake?: () => void;
}

/**
 * The audit log's live feed behind TailAudit: every record written is handed, already a bounded
 * JSON line, to the queue of each subscriber that may see it (the access decision says which:
 * by its team and the back ends it names). Publishing costs nothing while nobody listens. A
 * subscriber that falls MAX_QUEUED records behind is dropped (RESOURCE_EXHAUSTED) rather than
 * buffered without end; shutdown ends every stream (UNAVAILABLE).
 */
export class AuditTail implements AuditFeed {
  private readonly subscribers = new Set<Subscriber>();
  private closed = false;

  get listening(): number {
    return this.subscribers.size;
  }

  publish(line: string): void {
    if (this.subscribers.size === 0) return;
    const { message, view } = toMessage(line);
    for (const subscriber of this.subscribers) {
      if (!subscriber.visible(view)) continue;
      if (subscriber.queue.length >= MAX_QUEUED) {
        this.finish(
          subscriber,
          new ServiceError(
            Code.ResourceExhausted,
            `the audit tail fell more than ${MAX_QUEUED} records behind and was dropped; subscribe again`,
          ),
        );
      } else {
        subscriber.queue.push(message);
        subscriber.wake?.();
      }
    }
  }

  subscribe(
    signal: AbortSignal | undefined,
    visible: (record: AuditRecordView) => boolean,
  ): AsyncIterable<TailAuditResponse> {
    if (this.closed) throw new ServiceError(Code.Unavailable, "the server is shutting down");
    if (this.subscribers.size >= MAX_SUBSCRIBERS) {
      throw new ServiceError(
        Code.ResourceExhausted,
        `${MAX_SUBSCRIBERS} audit tails are open already; close one first`,
      );
    }
    const subscriber: Subscriber = { visible, queue: [] };
    this.subscribers.add(subscriber);
    const cancel = () => this.finish(subscriber, "cancelled");
    if (signal?.aborted) cancel();
    else signal?.addEventListener("abort", cancel, { once: true });
    return this.drain(subscriber, () => signal?.removeEventListener("abort", cancel));
  }

  /** Ends every stream (server shutdown) and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const subscriber of this.subscribers)
      this.finish(subscriber, new ServiceError(Code.Unavailable, "the server is shutting down"));
  }

  private finish(subscriber: Subscriber, end: ServiceError | "cancelled"): void {
    subscriber.end ??= end;
    subscriber.queue.length = 0;
    this.subscribers.delete(subscriber);
    subscriber.wake?.();
  }

  private async *drain(subscriber: Subscriber, release: () => void): AsyncGenerator<TailAuditResponse> {
    try {
      for (;;) {
        const next = subscriber.queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (subscriber.end === "cancelled") return;
        if (subscriber.end) throw subscriber.end;
        await new Promise<void>((resolve) => {
          subscriber.wake = resolve;
        });
        subscriber.wake = undefined;
      }
    } finally {
      this.subscribers.delete(subscriber);
      release();
    }
  }
}

/**
 * A record line as a TailAudit message (its common fields typed, and the line itself), and what
 * the access decision asks of it. A team id or back-end name the service would refuse is recorded
 * as its digest (src/audit-record.ts): it stands for a team or back end no bound admin has.
 */
function toMessage(line: string): { message: TailAuditResponse; view: AuditRecordView } {
  const record = JSON.parse(line) as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === "string" ? value : "");
  const names: string[] = [];
  const add = (value: unknown) => {
    if (typeof value === "string" && value !== "" && names.length < MAX_NAMES) names.push(value);
  };
  for (const key of ["name", "currentName", "newName"]) add(record[key]);
  const backends = new Set<string>();
  const named = (value: unknown) => {
    if (value === undefined || value === "" || value === ENVIRONMENT_SOURCE) return;
    backends.add(typeof value === "string" ? value : JSON.stringify(value));
  };
  if (Array.isArray(record.backends)) record.backends.forEach(named);
  for (const key of ["backend", "fromBackend", "toBackend", "source"]) named(record[key]);
  for (const key of ["items", "names"]) {
    const list = record[key];
    if (!Array.isArray(list)) continue;
    for (const entry of list) {
      const item = entry !== null && typeof entry === "object" ? (entry as Record<string, unknown>) : undefined;
      add(item ? item.name : entry);
      if (item) named(item.source);
    }
  }
  const teamId =
    record.teamId === undefined
      ? ""
      : typeof record.teamId === "string"
        ? record.teamId
        : JSON.stringify(record.teamId);
  const message = create(TailAuditResponseSchema, {
    record: create(AuditRecordSchema, {
      time: timestampFromMs(typeof record.time === "number" ? record.time : Date.now()),
      identity: text(record.identity),
      method: text(record.method),
      outcome: text(record.outcome),
      names,
      teamId: text(record.teamId),
      json: line,
    }),
  });
  return { message, view: { teamId, backends: [...backends] } };
}

/** A Read item's `source` when the service's own environment answered: not a back end. */
const ENVIRONMENT_SOURCE = "env";
