import type { TailAuditResponse } from "../../gen/secretgate/v1/secret_service_pb.js";

/** Where TailAudit subscribes: the audit log's live feed (src/audit-tail.ts). */
export interface AuditFeed {
  /**
   * The records written from now on, until `signal` aborts, the subscriber falls too far behind
   * (RESOURCE_EXHAUSTED) or the server shuts down (UNAVAILABLE). Throws RESOURCE_EXHAUSTED when
   * too many subscribers are listening already.
   */
  subscribe(signal: AbortSignal | undefined): AsyncIterable<TailAuditResponse>;
}
