import { describe, expect, it } from "vitest";
import { AuditTail, MAX_QUEUED, MAX_SUBSCRIBERS } from "../../../src/audit-tail.js";
import { Code, ServiceError } from "../../../src/core/errors.js";

const line = (index: number) =>
  JSON.stringify({
    time: 1_700_000_000_000 + index,
    identity: "proxy",
    method: "Read",
    outcome: "OK",
    items: [{ name: `N${index}` }, { name: { invalid: true } }],
  });

const everything = () => true;

async function endOf(iterator: AsyncIterator<unknown>): Promise<unknown> {
  try {
    for (let next = await iterator.next(); !next.done; next = await iterator.next());
    return "done";
  } catch (error) {
    return error;
  }
}

describe("AuditTail", () => {
  it("hands each subscriber the records written after it subscribed, typed and whole", async () => {
    const tail = new AuditTail();
    tail.publish(line(0));
    const iterator = tail.subscribe(undefined, everything)[Symbol.asyncIterator]();
    tail.publish(line(1));
    const { value } = await iterator.next();
    expect(value!.record).toMatchObject({
      identity: "proxy",
      method: "Read",
      outcome: "OK",
      names: ["N1"],
      json: line(1),
    });
    expect(Number(value!.record!.time!.seconds)).toBe(1_700_000_000);
  });

  it("drops a subscriber that falls more than MAX_QUEUED records behind, and frees its memory", async () => {
    const tail = new AuditTail();
    const iterator = tail.subscribe(undefined, everything)[Symbol.asyncIterator]();
    for (let index = 0; index <= MAX_QUEUED; index++) tail.publish(line(index));
    expect(tail.listening).toBe(0);
    const error = (await endOf(iterator)) as ServiceError;
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.message).toContain("fell more than");
  });

  it("keeps a subscriber that reads along, however many records pass", async () => {
    const tail = new AuditTail();
    const iterator = tail.subscribe(undefined, everything)[Symbol.asyncIterator]();
    for (let index = 0; index < MAX_QUEUED * 3; index++) {
      tail.publish(line(index));
      expect((await iterator.next()).value!.record!.names).toEqual([`N${index}`]);
    }
    expect(tail.listening).toBe(1);
  });

  it("refuses more than MAX_SUBSCRIBERS at once", () => {
    const tail = new AuditTail();
    for (let index = 0; index < MAX_SUBSCRIBERS; index++) tail.subscribe(undefined, everything);
    expect(() => tail.subscribe(undefined, everything)).toThrow(
      expect.objectContaining({ code: Code.ResourceExhausted }),
    );
  });

  it("ends quietly when the caller goes away, and with UNAVAILABLE on close", async () => {
    const tail = new AuditTail();
    const controller = new AbortController();
    const leaving = tail.subscribe(controller.signal, everything)[Symbol.asyncIterator]();
    const staying = tail.subscribe(undefined, everything)[Symbol.asyncIterator]();
    controller.abort();
    expect(await endOf(leaving)).toBe("done");
    tail.close();
    expect(((await endOf(staying)) as ServiceError).code).toBe(Code.Unavailable);
    expect(() => tail.subscribe(undefined, everything)).toThrow(expect.objectContaining({ code: Code.Unavailable }));
  });

  it("hands a subscriber only the records its filter lets through, told each record's team and the back ends it names", async () => {
    const tail = new AuditTail();
    const views: unknown[] = [];
    const iterator = tail
      .subscribe(undefined, (view) => {
        views.push(view);
        return view.teamId === "team-a";
      })
      [Symbol.asyncIterator]();
    const record = (fields: Record<string, unknown>) =>
      JSON.stringify({ time: 1, identity: "proxy", method: "Read", outcome: "OK", ...fields });
    tail.publish(record({ teamId: "team-b", backends: ["vault"] }));
    tail.publish(
      record({
        backend: "local",
        items: [
          { name: "A", source: "aws" },
          { name: "B", source: "env" },
        ],
      }),
    );
    tail.publish(
      record({ teamId: { invalid: true, bytes: 3, sha256: "abc" }, fromBackend: "x", toBackend: { invalid: true } }),
    );
    tail.publish(record({ teamId: "team-a", source: "local", name: "WRITTEN" }));
    expect((await iterator.next()).value!.record!.names).toEqual(["WRITTEN"]);
    expect(views).toEqual([
      { teamId: "team-b", backends: ["vault"] },
      { teamId: "", backends: ["local", "aws"] },
      {
        teamId: JSON.stringify({ invalid: true, bytes: 3, sha256: "abc" }),
        backends: ["x", JSON.stringify({ invalid: true })],
      },
      { teamId: "team-a", backends: ["local"] },
    ]);
  });
});
