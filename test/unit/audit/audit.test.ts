import { hash } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { WriterHealth } from "../../../src/append-writer.js";
import type { AuditFailureMode } from "../../../src/audit.js";
import { AuditLog } from "../../../src/audit.js";
import {
  auditedName,
  auditedTeamId,
  boundedMessage,
  MAX_ERROR_BYTES,
  MAX_RECORD_BYTES,
} from "../../../src/audit-record.js";
import { Code, ServiceError } from "../../../src/core/errors.js";
import type { LogDestination } from "../../../src/log.js";

/**
 * An audit log writing into memory; `lines()` hands out what it wrote, `written()` what reached
 * the destination so far. `fail(code)` makes the destination's writes fail (as a full disk's),
 * `recover()` makes them work again; `settle()` tells waiting callers their bytes were written.
 */
function memoryAudit(onFailure: AuditFailureMode = "fail_open") {
  const chunks: Buffer[] = [];
  let health: WriterHealth = { writing: true };
  let listener: (health: WriterHealth) => void = () => undefined;
  const waiting: Array<(error?: Error) => void> = [];
  const destination = {
    write: (line: string) => chunks.push(Buffer.from(line)),
    writeBytes: (bytes: Buffer) => {
      chunks.push(bytes);
      return true;
    },
    whenWritten: (done: (error?: Error) => void) => {
      if (!health.writing) done(Object.assign(new Error("no space left on device"), { code: health.error }));
      else waiting.push(done);
    },
    get health() {
      return health;
    },
    onHealth: (changed: (health: WriterHealth) => void) => {
      listener = changed;
    },
    flush: (callback?: () => void) => callback?.(),
    flushSync: () => undefined,
    close: async () => 0,
  } as unknown as LogDestination;
  const audit = new AuditLog({ file: undefined, stdout: destination, onFailure });
  const settle = () => {
    for (const done of waiting.splice(0)) done();
  };
  return {
    audit,
    lines: () => {
      audit.flush();
      return Buffer.concat(chunks).toString("utf8").split("\n").filter(Boolean);
    },
    written: () => Buffer.concat(chunks).toString("utf8").split("\n").filter(Boolean).length,
    settle,
    fail: (code: string) => {
      health = { writing: false, error: code };
      listener(health);
      for (const done of waiting.splice(0)) done(Object.assign(new Error(code), { code }));
    },
    recover: () => {
      health = { writing: true };
      listener(health);
    },
  };
}

const digest = (text: string) => ({
  invalid: true,
  bytes: Buffer.byteLength(text),
  sha256: hash("sha256", text, "hex").slice(0, 12),
});
const list = (key: "items" | "names", entries: unknown[]) => ({
  key,
  length: entries.length,
  entry: (index: number) => entries[index],
});

describe("auditedName and auditedTeamId", () => {
  it.each(["OPENAI_API_KEY", "os.environ/OPENAI_API_KEY", "litellm/vk-1", "ключ/密钥", "x".repeat(512)])(
    "record a valid name as it is: %j",
    (name) => {
      expect(auditedName(name)).toBe(name);
    },
  );

  it.each([
    ["\u0001".repeat(4 * 1024 * 1024)],
    ["x".repeat(513)],
    [""],
    ["a\nb"],
    ["   "],
    ["OPENAI_API_KEY\u200b"],
    ["../etc/passwd"],
    ["os.environ/\u0001"],
  ])("record an invalid or oversized name as its length and a SHA-256 prefix (%#)", (name) => {
    expect(auditedName(name)).toEqual(digest(name));
  });

  it("record a team id the service accepts as it is, any other as its length and digest", () => {
    expect(auditedTeamId("team-a")).toBe("team-a");
    expect(auditedTeamId("team a")).toEqual(digest("team a"));
    expect(auditedTeamId("t".repeat(100_000))).toEqual({
      invalid: true,
      bytes: 100_000,
      sha256: hash("sha256", "t".repeat(100_000), "hex").slice(0, 12),
    });
  });
});

describe("boundedMessage", () => {
  it("keeps a message that fits, and cuts a longer one at a character boundary, marked", () => {
    expect(boundedMessage("short")).toBe("short");
    const exact = "é".repeat(MAX_ERROR_BYTES / 2);
    expect(boundedMessage(exact)).toBe(exact);
    for (const long of ["x".repeat(10_000), "😀".repeat(1000), `${"a".repeat(MAX_ERROR_BYTES - 2)}😀😀`]) {
      const cut = boundedMessage(long);
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(MAX_ERROR_BYTES);
      expect(cut.endsWith("…")).toBe(true);
      expect(long.startsWith(cut.slice(0, -1))).toBe(true);
      // No half of a surrogate pair left at the cut.
      expect(Buffer.from(cut, "utf8").toString("utf8")).toBe(cut);
    }
  });
});

describe("AuditLog batches under fail_open", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("hand records to the destination 50 ms after the first of a batch", () => {
    vi.useFakeTimers();
    const { audit, written } = memoryAudit();
    audit.write({ method: "Read", outcome: "OK" });
    audit.write({ method: "Read", outcome: "OK" });
    expect(written()).toBe(0);
    vi.advanceTimersByTime(49);
    expect(written()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(written()).toBe(2);
    audit.write({ method: "Write", outcome: "OK" });
    vi.advanceTimersByTime(50);
    expect(written()).toBe(3);
  });

  it("hand them over at once when 64 KiB are pending, whatever the time", () => {
    vi.useFakeTimers();
    const { audit, written } = memoryAudit();
    const name = "N".repeat(1000);
    let records = 0;
    while (written() === 0 && records < 200) {
      audit.write({ method: "Write", outcome: "OK", name });
      records++;
    }
    expect(records).toBeGreaterThan(60);
    expect(records).toBeLessThan(70);
    expect(written()).toBe(records);
  });
});

describe("AuditLog under fail_closed (the default)", () => {
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it("hands a turn's records over together once the turn's I/O is handled, and lets their calls be answered only once they are written", async () => {
    const { audit, written, settle } = memoryAudit("fail_closed");
    const answered: string[] = [];
    void audit.write({ method: "Read", outcome: "OK" })!.then(() => answered.push("first"));
    void audit.write({ method: "Write", outcome: "OK" })!.then(() => answered.push("second"));
    expect(written()).toBe(0);
    await turn();
    expect(written()).toBe(2);
    await turn();
    expect(answered).toEqual([]);
    settle();
    await turn();
    expect(answered).toEqual(["first", "second"]);
  });

  it("refuses the calls of a batch that cannot be written with UNAVAILABLE, refuses every call before it runs until writes work again, and counts them", async () => {
    const { audit, fail, recover } = memoryAudit("fail_closed");
    const waiting = audit.write({ method: "Write", outcome: "OK", name: "A" })!;
    await turn();
    fail("ENOSPC");
    const refusal = await waiting.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(ServiceError);
    expect((refusal as ServiceError).code).toBe(Code.Unavailable);
    expect((refusal as ServiceError).message).toContain("ENOSPC");
    expect(audit.health).toMatchObject({ state: "failing", onFailure: "fail_closed", error: "ENOSPC" });
    expect(audit.refuse()?.code).toBe(Code.Unavailable);
    recover();
    expect(audit.refuse()).toBeUndefined();
    expect(audit.health).toMatchObject({ state: "writing" });
  });

  it("never makes a refused batch nobody waits on an unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const { audit, fail } = memoryAudit("fail_closed");
      audit.write({ method: "Read", outcome: "PERMISSION_DENIED" });
      await turn();
      fail("EIO");
      await turn();
      await turn();
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});

describe("AuditLog under fail_open", () => {
  it("answers at once, counts records written while writes fail, and never refuses", () => {
    const { audit, fail } = memoryAudit("fail_open");
    fail("ENOSPC");
    expect(audit.write({ method: "Read", outcome: "OK" })).toBeUndefined();
    expect(audit.refuse()).toBeUndefined();
    expect(audit.health).toMatchObject({ state: "failing", onFailure: "fail_open" });
  });
});

describe("AuditLog records", () => {
  it("are written whole when they fit", () => {
    const { audit, lines } = memoryAudit();
    audit.write(
      { method: "Read", outcome: "OK" },
      list("items", [
        { name: "A", outcome: "OK" },
        { name: "B", outcome: "NOT_FOUND" },
      ]),
    );
    audit.write({ method: "Write", outcome: "OK", name: "A" });
    const [read, write] = lines().map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(read).toMatchObject({ method: "Read", audit: true, msg: "rpc", items: [{ name: "A" }, { name: "B" }] });
    expect(read).not.toHaveProperty("omitted");
    expect(write).toMatchObject({ method: "Write", name: "A", audit: true });
    expect(write).not.toHaveProperty("items");
  });

  it("keep at most 4 KiB of a 1,000-name Read of valid 512-byte names, then say how many were left out", () => {
    const { audit, lines } = memoryAudit();
    const names = Array.from({ length: 1000 }, (_, index) => `${index}`.padStart(512, "n"));
    audit.write(
      { method: "Read", outcome: "OK" },
      list(
        "items",
        names.map((name) => ({ name, outcome: "OK", version: "1" })),
      ),
    );
    audit.write({ method: "Read", outcome: "UNAUTHENTICATED" }, list("names", names));
    for (const line of lines()) {
      expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_RECORD_BYTES);
      const record = JSON.parse(line) as { items?: unknown[]; names?: unknown[]; omitted: number };
      const kept = (record.items ?? record.names)!;
      expect(kept.length).toBeGreaterThanOrEqual(6);
      expect(kept.length + record.omitted).toBe(1000);
    }
  });

  it("stay within 4 KiB whatever the entries and fields hold: multi-byte text, escapes, one entry larger than a record", () => {
    const { audit, lines } = memoryAudit();
    audit.write(
      { method: "Read", outcome: "OK" },
      list(
        "items",
        Array.from({ length: 300 }, () => ({ name: '密钥"\\'.repeat(40) })),
      ),
    );
    audit.write({ method: "Read", outcome: "OK" }, list("items", [{ name: "n".repeat(10_000) }, { name: "small" }]));
    audit.write(
      { method: "Write", outcome: "OK", identity: "i".repeat(100_000), error: "\u2603".repeat(5000) },
      list("names", ["a"]),
    );
    const records = lines();
    expect(records).toHaveLength(3);
    for (const line of records) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_RECORD_BYTES);
    const [multiByte, oversized, longFields] = records.map((line) => JSON.parse(line) as Record<string, any>) as [
      Record<string, any>,
      Record<string, any>,
      Record<string, any>,
    ];
    expect(multiByte.items.length + multiByte.omitted).toBe(300);
    // Entries stay in order: one that does not fit ends the list.
    expect(oversized).toMatchObject({ items: [], omitted: 2 });
    expect(longFields.identity).toEqual(digest("i".repeat(100_000)));
    expect(longFields.error).toEqual(digest("\u2603".repeat(5000)));
    expect(longFields).toMatchObject({ method: "Write", outcome: "OK", names: ["a"] });
  });
});
