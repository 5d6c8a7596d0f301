import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { MessageChannel, Worker } from "node:worker_threads";
import { serializeRecord } from "../src/audit-record.js";

/**
 * What taking audit records off the event loop would cost it, choice by choice (issue 28, item 1):
 * how a record can be handed to another thread, and how an answer can learn that its record was
 * written. Measured in this process, on its main thread (its CPU time, `process.threadCpuUsage`),
 * with records shaped as the dispatcher writes them for a cached one-name Read.
 */
export interface HandoverResult {
  /** Main-thread CPU per record, by way of handing records over (RECORDS_PER_TURN per turn). */
  perRecord: Array<{ choice: string; microseconds: number }>;
  /** Per batch: main-thread CPU and the time until its answers may leave, by way of learning the write is done. */
  acknowledgement: Array<{
    choice: string;
    cpuMicroseconds: number;
    medianMicroseconds: number;
    p99Microseconds: number;
  }>;
}

/** ES2024's `Atomics.waitAsync` (Node 24 has it; the project's TypeScript library is ES2023). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(array: Int32Array, index: number, value: number): { async: boolean; value: Promise<unknown> | string };
  }
).waitAsync;

const RECORDS = 100_000;
const RECORDS_PER_TURN = 5;
const BATCHES = 5_000;
const RING_BYTES = 1 << 24;

/** The worker side: waits for bytes in the ring, writes them, publishes how far it wrote. */
const WRITER_SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const { ring, control, fd, size, ack } = workerData;
const bytes = new Uint8Array(ring);
const state = new Int32Array(control);
let written = 0;
if (parentPort) parentPort.on("message", () => undefined);
for (;;) {
  Atomics.wait(state, 0, written);
  const appended = Atomics.load(state, 0);
  if (appended < 0) break;
  while (written < appended) {
    const start = written % size;
    const end = Math.min(start + (appended - written), size);
    written += writeSync(fd, bytes, start, end - start);
  }
  Atomics.store(state, 1, written);
  if (ack === "message") parentPort.postMessage(written);
  else Atomics.notify(state, 1);
}
`;

export async function auditHandoverBenchmark(work: string): Promise<HandoverResult> {
  const dir = mkdtempSync(join(work, "audit-handover-"));
  try {
    return { perRecord: handoverCosts(dir), acknowledgement: await acknowledgementCosts(dir) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A record as the dispatcher builds it for a cached Read of one name, serialised as AuditLog writes it. */
function recordLine(index: number): string {
  const record: Record<string, unknown> = {
    service: "secretgate",
    identity: "admin",
    method: "Read",
    protocol: "grpc",
    peer: "127.0.0.1:43210",
    outcome: "OK",
    ms: (index % 1000) / 1000,
    backends: ["local"],
    time: Date.now(),
    audit: true,
    msg: "rpc",
  };
  return serializeRecord(record, {
    key: "items",
    length: 1,
    entry: () => ({ name: "OPENAI_API_KEY", outcome: "OK", source: "local", version: "3", fromCache: true }),
  });
}

function cpuMicroseconds(since: NodeJS.CpuUsage): number {
  const used = process.threadCpuUsage(since);
  return used.user + used.system;
}

function handoverCosts(dir: string): HandoverResult["perRecord"] {
  const results: HandoverResult["perRecord"] = [];
  const measure = (choice: string, record: (index: number) => void, turn: () => void) => {
    for (let index = 0; index < RECORDS / 10; index++) {
      record(index);
      if (index % RECORDS_PER_TURN === RECORDS_PER_TURN - 1) turn();
    }
    const started = process.threadCpuUsage();
    for (let index = 0; index < RECORDS; index++) {
      record(index);
      if (index % RECORDS_PER_TURN === RECORDS_PER_TURN - 1) turn();
    }
    results.push({ choice, microseconds: cpuMicroseconds(started) / RECORDS });
  };

  // Today's fail_closed: each record a JSON line; each turn's lines joined, encoded once and written.
  const fd = openSync(join(dir, "audit.log"), "a");
  let lines: string[] = [];
  measure(
    "JSON line; the turn's lines written by the event loop (`write(2)`, as `fail_closed` does)",
    (index) => lines.push(recordLine(index)),
    () => {
      writeSync(fd, Buffer.from(`${lines.join("\n")}\n`, "utf8"));
      lines = [];
    },
  );
  closeSync(fd);

  // The same lines copied into a shared ring for a writer thread (the copy and the wake-up only).
  const ring = new Uint8Array(new SharedArrayBuffer(RING_BYTES));
  const state = new Int32Array(new SharedArrayBuffer(8));
  const encoder = new TextEncoder();
  let at = 0;
  measure(
    "JSON line; the turn's lines copied into a SharedArrayBuffer ring, a writer thread woken (`Atomics.notify`)",
    (index) => lines.push(recordLine(index)),
    () => {
      if (at > RING_BYTES - 65_536) at = 0;
      at += encoder.encodeInto(`${lines.join("\n")}\n`, ring.subarray(at)).written;
      lines = [];
      Atomics.store(state, 0, at);
      Atomics.notify(state, 0);
    },
  );

  // The record's fields in a fixed binary layout (strings length-prefixed), serialised by the writer thread.
  const view = new DataView(ring.buffer);
  const put = (text: string) => {
    const written = encoder.encodeInto(text, ring.subarray(at + 2)).written;
    view.setUint16(at, written);
    at += 2 + written;
  };
  at = 0;
  measure(
    "fields in a fixed binary layout in the ring, the JSON left to the writer thread",
    (index) => {
      if (at > RING_BYTES - 65_536) at = 0;
      ring[at++] = 1;
      put("admin");
      ring[at++] = 3;
      put("127.0.0.1:43210");
      view.setFloat64(at, (index % 1000) / 1000);
      view.setFloat64(at + 8, Date.now());
      at += 16;
      put("local");
      put("OPENAI_API_KEY");
      put("3");
      ring[at++] = 1;
    },
    () => {
      Atomics.store(state, 0, at);
      Atomics.notify(state, 0);
    },
  );

  // Structured clone: the turn's record objects posted to another thread.
  const { port1, port2 } = new MessageChannel();
  port2.on("message", () => undefined);
  let records: unknown[] = [];
  measure(
    "record objects posted to a worker each turn (structured clone)",
    (index) =>
      records.push({
        service: "secretgate",
        identity: "admin",
        method: "Read",
        protocol: "grpc",
        peer: "127.0.0.1:43210",
        outcome: "OK",
        ms: (index % 1000) / 1000,
        backends: ["local"],
        time: Date.now(),
        items: [{ name: "OPENAI_API_KEY", outcome: "OK", source: "local", version: "3", fromCache: true }],
      }),
    () => {
      port1.postMessage(records);
      records = [];
    },
  );
  port1.close();
  port2.close();
  return results;
}

/**
 * One batch (a turn's records, 5 lines) per event-loop turn: its main-thread CPU, and how long
 * until the answers waiting on it may leave — the write on the event loop itself, or a writer
 * thread's write acknowledged by `Atomics.waitAsync` or by a message.
 */
async function acknowledgementCosts(dir: string): Promise<HandoverResult["acknowledgement"]> {
  const batch = Buffer.from(
    `${Array.from({ length: RECORDS_PER_TURN }, (_, index) => recordLine(index)).join("\n")}\n`,
  );
  const results: HandoverResult["acknowledgement"] = [];
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  const summarise = (choice: string, waits: number[], cpu: number) => {
    waits.sort((a, b) => a - b);
    results.push({
      choice,
      cpuMicroseconds: cpu / waits.length,
      medianMicroseconds: waits[Math.floor(waits.length / 2)]! * 1000,
      p99Microseconds: waits[Math.floor(waits.length * 0.99)]! * 1000,
    });
  };

  const fd = openSync(join(dir, "acknowledged.log"), "a");
  let waits: number[] = [];
  let started = process.threadCpuUsage();
  for (let index = 0; index < BATCHES; index++) {
    const begun = performance.now();
    writeSync(fd, batch);
    waits.push(performance.now() - begun);
    await turn();
  }
  summarise("the batch written by the event loop (`fail_closed` today)", waits, cpuMicroseconds(started));

  for (const ack of ["waitAsync", "message"] as const) {
    const ring = new SharedArrayBuffer(RING_BYTES);
    const control = new SharedArrayBuffer(8);
    const state = new Int32Array(control);
    const worker = new Worker(WRITER_SOURCE, { eval: true, workerData: { ring, control, fd, size: RING_BYTES, ack } });
    const bytes = new Uint8Array(ring);
    let appended = 0;
    const acknowledged = (upTo: number): Promise<void> => {
      if (ack === "message") {
        return new Promise((resolve) => {
          const heard = (written: number) => {
            if (written < upTo) return;
            worker.off("message", heard);
            resolve();
          };
          worker.on("message", heard);
        });
      }
      return (async () => {
        for (;;) {
          const written = Atomics.load(state, 1);
          if (written >= upTo) return;
          const waiting = waitAsync(state, 1, written);
          if (waiting.async) await waiting.value;
        }
      })();
    };
    waits = [];
    started = process.threadCpuUsage();
    for (let index = 0; index < BATCHES; index++) {
      const begun = performance.now();
      const start = appended % RING_BYTES;
      if (start + batch.length > RING_BYTES) appended += RING_BYTES - start;
      bytes.set(batch, appended % RING_BYTES);
      appended += batch.length;
      Atomics.store(state, 0, appended);
      Atomics.notify(state, 0);
      await acknowledged(appended);
      waits.push(performance.now() - begun);
      await turn();
    }
    summarise(
      ack === "message"
        ? "a writer thread's write, acknowledged by a message"
        : "a writer thread's write, acknowledged through `Atomics.waitAsync`",
      waits,
      cpuMicroseconds(started),
    );
    Atomics.store(state, 0, -1);
    Atomics.notify(state, 0);
    await worker.terminate();
  }
  closeSync(fd);
  return results;
}
