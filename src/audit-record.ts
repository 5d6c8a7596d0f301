import { hash } from "node:crypto";
import { isValidTeamId, secretNameProblem, stripEnvReference } from "./core/names.js";

/**
 * What an audit record may hold, whatever the request held: a record is one line of at most
 * 4 KiB, and a name or team id appears in it only once the service would accept it. A caller
 * who could make the audit log write what it sent, at the size it sent it, could fill the disk
 * with one unauthenticated request (a 4 MB Read of control bytes wrote 24 MB) or forge lines.
 */
export const MAX_RECORD_BYTES = 4096;

/** How much of an error message a record keeps (a message may echo a name, escaped). */
export const MAX_ERROR_BYTES = 512;

// A list this short is tried whole first.
const WHOLE_LIST_ENTRIES = 16;
// Room left after a record's fixed fields for the list's key, its brackets and the count of
// entries left out, so that a list, even an empty one, never takes a record past the limit.
const LIST_ROOM = 64;
const OMITTED_ROOM = 32;
// A string field whose JSON is longer than this is what a record whose fields alone overflow
// loses first; what remains of a record's dozen or so fields is then far below the limit.
const LONG_FIELD_BYTES = 128;

/** A value that is recorded by its size and a SHA-256 prefix, never its bytes. */
export interface Digest {
  invalid: true;
  bytes: number;
  /** The first 12 hex digits: enough to tell two values apart, too few to confirm a guess cheaply. */
  sha256: string;
}

/**
 * The entries of a record's one list (a Read's items, or its names when it failed), built one
 * at a time: a record stops asking once it is full, so a 1,000-name Read costs only what fits.
 */
export interface AuditList {
  key: "items" | "names";
  length: number;
  entry(index: number): unknown;
  /** The entry as JSON, exactly `JSON.stringify(entry(index))`, when the list can write it more cheaply. */
  json?(index: number): string;
}

export function digestOf(text: string): Digest {
  return { invalid: true, bytes: Buffer.byteLength(text, "utf8"), sha256: hash("sha256", text, "hex").slice(0, 12) };
}

/** A name as a record holds it: as sent (`os.environ/` included) when valid, else its digest. */
export function auditedName(name: string): string | Digest {
  return secretNameProblem(stripEnvReference(name)) === undefined ? name : digestOf(name);
}

export function auditedTeamId(teamId: string): string | Digest {
  return isValidTeamId(teamId) ? teamId : digestOf(teamId);
}

/** The first MAX_ERROR_BYTES of a message (whole characters), marked with "…" when cut. */
export function boundedMessage(message: string): string {
  if (message.length * 3 <= MAX_ERROR_BYTES || Buffer.byteLength(message, "utf8") <= MAX_ERROR_BYTES) return message;
  const ellipsis = "…";
  let bytes = Buffer.byteLength(ellipsis, "utf8");
  let end = 0;
  for (const character of message) {
    bytes += Buffer.byteLength(character, "utf8");
    if (bytes > MAX_ERROR_BYTES) break;
    end += character.length;
  }
  return `${message.slice(0, end)}${ellipsis}`;
}

/**
 * One record as a JSON line of at most MAX_RECORD_BYTES: its fields, then as many entries of its
 * list as fit, in order, and `omitted`, the number left out. Fields that alone would overflow the
 * line (none of the dispatcher's can) are cut down by replacing their long strings with digests.
 * The record is consumed (its list is set on it).
 */
export function serializeRecord(record: Record<string, unknown>, list?: AuditList): string {
  // Most records are far below the limit (a cached Read of a few names): one JSON.stringify of
  // the whole record, checked afterwards, is the cheapest way to write them.
  if (list === undefined || list.length <= WHOLE_LIST_ENTRIES) {
    if (list !== undefined) record[list.key] = entriesOf(list);
    const line = JSON.stringify(record);
    if (!exceeds(line, MAX_RECORD_BYTES)) return line;
    if (list !== undefined) delete record[list.key];
  }
  return boundedLine(record, list);
}

function boundedLine(record: Record<string, unknown>, list: AuditList | undefined): string {
  let line = JSON.stringify(record);
  if (exceeds(line, MAX_RECORD_BYTES - LIST_ROOM)) line = JSON.stringify(withLongStringsDigested(record));
  if (list === undefined) return line;

  const limit = MAX_RECORD_BYTES - OMITTED_ROOM;
  line = `${line.slice(0, -1)},${JSON.stringify(list.key)}:[`;
  // The line's exact UTF-8 size, counted only once its length in UTF-16 units (at most three
  // bytes each) could reach the limit: most records are far from it.
  let bytes: number | undefined;
  let kept = 0;
  for (; kept < list.length; kept++) {
    const entry = `${kept === 0 ? "" : ","}${list.json ? list.json(kept) : JSON.stringify(list.entry(kept))}`;
    if (bytes === undefined && (line.length + entry.length) * 3 > limit) bytes = Buffer.byteLength(line, "utf8");
    if (bytes !== undefined) {
      bytes += Buffer.byteLength(entry, "utf8");
      if (bytes > limit) break;
    }
    line += entry;
  }
  line += "]";
  if (kept < list.length) line += `,"omitted":${list.length - kept}`;
  return `${line}}`;
}

function entriesOf(list: AuditList): unknown[] {
  const entries = new Array<unknown>(list.length);
  for (let index = 0; index < list.length; index++) entries[index] = list.entry(index);
  return entries;
}

function exceeds(text: string, limit: number): boolean {
  return text.length * 3 > limit && Buffer.byteLength(text, "utf8") > limit;
}

function withLongStringsDigested(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(record).map(([key, value]) => [
      key,
      typeof value === "string" && exceeds(JSON.stringify(value), LONG_FIELD_BYTES) ? digestOf(value) : value,
    ]),
  );
}
