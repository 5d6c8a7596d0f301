import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { AuditRecord } from "../../../gen/secretgate/v1/admin_service_pb.js";
import { Notice } from "../components/status.js";
import { describeError } from "../errors.js";
import type { Clients } from "../session.js";

/** Records the page keeps; older ones scroll away. */
const KEPT = 500;

interface Filters {
  identity: string;
  method: string;
  outcome: string;
  name: string;
}

const EMPTY: Filters = { identity: "", method: "", outcome: "", name: "" };

function matches(record: AuditRecord, filters: Filters): boolean {
  const has = (text: string, needle: string) =>
    needle.trim() === "" || text.toLowerCase().includes(needle.trim().toLowerCase());
  return (
    has(record.identity, filters.identity) &&
    has(record.method, filters.method) &&
    has(record.outcome, filters.outcome) &&
    (filters.name.trim() === "" || record.names.some((name) => has(name, filters.name)))
  );
}

/** A live tail of the audit log over the server-streaming TailAudit RPC. Records never hold values. */
export function Audit(props: { clients: Clients }) {
  const [records, setRecords] = useState<AuditRecord[]>([]);
  const [paused, setPaused] = useState(false);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [state, setState] = useState<{ live: boolean; error?: string }>({ live: false });
  const [connection, setConnection] = useState(0);
  const [missed, setMissed] = useState(0);
  const incoming = useRef<AuditRecord[]>([]);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    const controller = new AbortController();
    const flush = () => setRecords(incoming.current.slice());
    (async () => {
      try {
        const stream = props.clients.admin.tailAudit({}, { signal: controller.signal });
        setState({ live: true });
        for await (const { record } of stream) {
          if (!record) continue;
          incoming.current = [record, ...incoming.current].slice(0, KEPT);
          if (pausedRef.current) setMissed((count) => count + 1);
          else flush();
        }
        setState({ live: false, error: "The server ended the tail." });
      } catch (failure) {
        if (!controller.signal.aborted) setState({ live: false, error: describeError(failure) });
      }
    })();
    return () => controller.abort();
  }, [props.clients, connection]);

  const togglePause = () => {
    if (paused) {
      setRecords(incoming.current.slice());
      setMissed(0);
    }
    setPaused(!paused);
  };
  const shown = useMemo(() => records.filter((record) => matches(record, filters)), [records, filters]);
  const field = (key: keyof Filters, label: string) => (
    <div class="field-inline">
      <label for={`audit-${key}`}>{label}</label>
      <input
        id={`audit-${key}`}
        type="search"
        value={filters[key]}
        onInput={(event) => setFilters({ ...filters, [key]: event.currentTarget.value })}
      />
    </div>
  );

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit</h1>
      <p class="help">
        Audit records as the service writes them, newest first (the last {KEPT}).{" "}
        {state.live ? "Live." : "Not connected."}
      </p>
      <div class="toolbar">
        {field("identity", "Identity")}
        {field("method", "Method")}
        {field("outcome", "Outcome")}
        {field("name", "Name")}
        <button type="button" aria-pressed={paused} onClick={togglePause}>
          {paused ? "Resume" : "Pause"}
        </button>
        {!state.live && (
          <button type="button" onClick={() => setConnection(connection + 1)}>
            Reconnect
          </button>
        )}
      </div>
      {state.error && <Notice kind="error">{state.error}</Notice>}
      {paused && missed > 0 && <Notice kind="info">{missed} new records while paused.</Notice>}
      <table>
        <caption>{shown.length} records shown</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Identity</th>
            <th scope="col">Method</th>
            <th scope="col">Outcome</th>
            <th scope="col">Names</th>
            <th scope="col">Team</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((record, index) => (
            <tr key={index}>
              <td>{record.time ? timestampDate(record.time).toLocaleTimeString() : ""}</td>
              <td>{record.identity || "(unauthenticated)"}</td>
              <td>{record.method}</td>
              <td class={record.outcome === "OK" ? "" : "outcome-failed"}>{record.outcome}</td>
              <td>{record.names.join(", ")}</td>
              <td>{record.teamId}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
