import { existsSync, readFileSync } from "node:fs";

/**
 * How often each name appears in the audit records of `files` (a Write's `name`, a Read's items
 * or names): the fault suite gives every call names of its own, so a call's record is found by
 * them. Throws on a line that is not a whole JSON record (a torn or interleaved write).
 */
export function auditedNameCounts(...files: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (name: unknown) => {
    if (typeof name === "string") counts.set(name, (counts.get(name) ?? 0) + 1);
  };
  for (const file of files) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    if (text.includes("\u0000"))
      throw new Error(`${file} holds NUL bytes (a write landed past the end of a truncated file)`);
    for (const line of text.split("\n")) {
      if (line === "") continue;
      let record: Record<string, any>;
      try {
        record = JSON.parse(line) as Record<string, any>;
      } catch {
        throw new Error(`${file} holds a line that is not a whole record: ${JSON.stringify(line.slice(0, 120))}`);
      }
      if (record.audit !== true)
        throw new Error(`${file} holds a line that is not an audit record: ${JSON.stringify(line.slice(0, 120))}`);
      add(record.name);
      for (const item of record.items ?? []) add(item.name);
      for (const name of record.names ?? []) add(name);
    }
  }
  return counts;
}

/** The names of `expected` that do not appear exactly once in `counts`, with how often they do. */
export function notExactlyOnce(expected: Iterable<string>, counts: ReadonlyMap<string, number>): string[] {
  return [...expected]
    .filter((name) => counts.get(name) !== 1)
    .map((name) => `${name}: ${counts.get(name) ?? 0} records`);
}
