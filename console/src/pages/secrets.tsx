import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useEffect, useMemo, useState } from "preact/hooks";
import type { HostedKey } from "../../../gen/secretgate/v1/secret_service_pb.js";
import { Badge, Notice } from "../components/status.js";
import { describeError } from "../errors.js";
import type { Clients } from "../session.js";

type Column = "name" | "backend" | "resolves" | "source" | "version" | "age" | "stale";
const COLUMNS: ReadonlyArray<[Column, string]> = [
  ["name", "Name"],
  ["backend", "Back end"],
  ["resolves", "Resolves"],
  ["source", "Source"],
  ["version", "Version"],
  ["age", "Age"],
  ["stale", "Stale"],
];

function ageSeconds(key: HostedKey, now: number): number | undefined {
  return key.fetchedAt ? Math.max(0, Math.round((now - timestampDate(key.fetchedAt).getTime()) / 1000)) : undefined;
}

function formatAge(seconds: number | undefined): string {
  if (seconds === undefined) return "–";
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function sortValue(key: HostedKey, column: Column, now: number): string | number {
  switch (column) {
    case "resolves":
      return key.resolves ? 1 : 0;
    case "stale":
      return key.stale ? 1 : 0;
    case "age":
      return ageSeconds(key, now) ?? -1;
    default:
      return key[column];
  }
}

/**
 * Hosted keys and listable names per back end, from ListHosted, which carries no values: this
 * page can show whether a name resolves, never what to.
 */
export function Secrets(props: { clients: Clients }) {
  const [keys, setKeys] = useState<HostedKey[]>();
  const [error, setError] = useState<string>();
  const [filter, setFilter] = useState("");
  const [onlyFailing, setOnlyFailing] = useState(false);
  const [sort, setSort] = useState<{ column: Column; ascending: boolean }>({ column: "name", ascending: true });
  const [now, setNow] = useState(Date.now());

  const load = async () => {
    try {
      setKeys((await props.clients.secrets.listHosted({})).keys);
      setNow(Date.now());
      setError(undefined);
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  useEffect(() => void load(), [props.clients]);

  const shown = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const rows = (keys ?? []).filter(
      (key) =>
        (!onlyFailing || !key.resolves) &&
        (needle === "" || key.name.toLowerCase().includes(needle) || key.backend.toLowerCase().includes(needle)),
    );
    const direction = sort.ascending ? 1 : -1;
    return rows.sort((a, b) => {
      const left = sortValue(a, sort.column, now);
      const right = sortValue(b, sort.column, now);
      return (left < right ? -1 : left > right ? 1 : 0) * direction;
    });
  }, [keys, filter, onlyFailing, sort, now]);

  return (
    <section aria-labelledby="secrets-title">
      <h1 id="secrets-title">Secrets</h1>
      <p class="help">
        Names each back end hosts or stores, and whether they resolve. Values are never sent to the console.
      </p>
      <div class="toolbar">
        <label for="secrets-filter">Filter</label>
        <input
          id="secrets-filter"
          type="search"
          value={filter}
          onInput={(event) => setFilter(event.currentTarget.value)}
        />
        <label class="inline">
          <input
            type="checkbox"
            checked={onlyFailing}
            onChange={(event) => setOnlyFailing(event.currentTarget.checked)}
          />{" "}
          Only names that do not resolve
        </label>
        <button type="button" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      {!keys && !error && <p>Loading…</p>}
      {keys && (
        <table>
          <caption>
            {shown.length} of {keys.length} names
          </caption>
          <thead>
            <tr>
              {COLUMNS.map(([column, title]) => (
                <th
                  key={column}
                  scope="col"
                  aria-sort={sort.column === column ? (sort.ascending ? "ascending" : "descending") : "none"}
                >
                  <button
                    type="button"
                    class="sort"
                    onClick={() => setSort({ column, ascending: sort.column === column ? !sort.ascending : true })}
                  >
                    {title}
                    <span aria-hidden="true">{sort.column === column ? (sort.ascending ? " ▲" : " ▼") : ""}</span>
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.map((key) => (
              <tr key={`${key.backend}/${key.name}`}>
                <th scope="row">{key.name}</th>
                <td>{key.backend}</td>
                <td>
                  <Badge good={key.resolves}>{key.resolves ? "yes" : "no"}</Badge>
                  {key.error && (
                    <span class="reason">
                      {" "}
                      {key.error.reason || key.error.status}: {key.error.message}
                    </span>
                  )}
                </td>
                <td>{key.source || "–"}</td>
                <td>{key.version || "–"}</td>
                <td>{formatAge(ageSeconds(key, now))}</td>
                <td>{key.stale ? <Badge good={false}>stale</Badge> : "no"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
