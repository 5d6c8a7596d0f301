import type { TailAuditResponse } from "../../gen/secretgate/v1/admin_service_pb.js";

/** What the access decision asks of an audit record before a subscriber sees it. */
export interface AuditRecordView {
  /** The team the call named; "" for none (the global location). */
  teamId: string;
  /** Every back end the record names: the ones the call reached, and any it asked for. */
  backends: readonly string[];
}

/** Where TailAudit subscribes: the audit log's live feed (src/audit-tail.ts). */
export interface AuditFeed {
  /**
   * The records written from now on that `visible` lets through, until `signal` aborts, the
   * subscriber falls too far behind (RESOURCE_EXHAUSTED) or the server shuts down (UNAVAILABLE).
   * Throws RESOURCE_EXHAUSTED when too many subscribers are listening already.
   */
  subscribe(
    signal: AbortSignal | undefined,
    visible: (record: AuditRecordView) => boolean,
  ): AsyncIterable<TailAuditResponse>;
}
