import { hash, randomBytes } from "node:crypto";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";
import { callFailure } from "../helpers/call-failure.js";
import { TestServer } from "../helpers/server.js";

const LIMIT = 4096;
const digest = (text: string) => ({
  invalid: true,
  bytes: Buffer.byteLength(text),
  sha256: hash("sha256", text, "hex").slice(0, 12),
});

let server: TestServer;
beforeAll(async () => {
  server = await TestServer.start({ env: { SECRETGATE_LOG_LEVEL: "info" } });
});
afterAll(async () => {
  await server?.stop();
});

/**
 * The audit lines written since `from` (an index into the server's output), once there are
 * `count` of them: the log flushes every 200 ms, so they are waited for (up to 10 s), never timed.
 */
async function auditLines(from: number, count: number): Promise<string[]> {
  for (let waited = 0; ; waited += 50) {
    const lines = server.logLines.slice(from).filter((line) => line.includes('"audit":true'));
    if (lines.length >= count || waited >= 10_000) return lines;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function recordsOf(calls: () => Promise<unknown>, count: number): Promise<Array<Record<string, any>>> {
  const from = server.logLines.length;
  await calls();
  const lines = await auditLines(from, count);
  expect(lines).toHaveLength(count);
  for (const line of lines) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(LIMIT);
  return lines.map((line) => JSON.parse(line) as Record<string, any>);
}

describe("audit records hold what fits in 4 KiB, and nothing a caller sent unchecked", () => {
  it("one unauthenticated 4 MB gRPC Read of \\x01 bytes: one record, the name as its length and digest", async () => {
    const name = "\u0001".repeat(4 * 1024 * 1024 - 64);
    const [record] = await recordsOf(async () => {
      expect((await callFailure(server.client(undefined).read({ names: [name] }))).code).toBe(Code.Unauthenticated);
    }, 1);
    expect(record).toMatchObject({ method: "Read", identity: null, outcome: "UNAUTHENTICATED", names: [digest(name)] });
  });

  it("the same Read authenticated: its item is recorded as length and digest too", async () => {
    const name = "\u0001".repeat(4 * 1024 * 1024 - 64);
    const [record] = await recordsOf(async () => {
      expect((await server.grpc.read({ names: [name] })).results[0]!.error?.status).toBe("INVALID_ARGUMENT");
    }, 1);
    expect(record).toMatchObject({
      method: "Read",
      identity: "admin",
      outcome: "OK",
      items: [{ name: digest(name), outcome: "INVALID_ARGUMENT" }],
    });
  });

  it("1,000 names of 4 KB each, unauthenticated: what fits, then how many were left out", async () => {
    const names = Array.from({ length: 1000 }, (_, index) => `${index}`.padEnd(4000, "\u0001"));
    const [record] = await recordsOf(() => callFailure(server.client(undefined).read({ names })), 1);
    expect(record!.names[0]).toEqual(digest(names[0]!));
    expect(record!.names.length + record!.omitted).toBe(1000);
  });

  it("a 1,000-name Read of valid 512-byte names, on both ports: what fits, then how many were left out", async () => {
    const names = Array.from({ length: 1000 }, (_, index) => `${index}`.padStart(512, "n"));
    const connect = createClient(
      SecretService,
      createConnectTransport({
        baseUrl: `http://${server.httpAddress}`,
        httpVersion: "1.1",
        interceptors: [
          (next) => (request) => {
            request.header.set("authorization", `Bearer ${server.token}`);
            return next(request);
          },
        ],
      }),
    );
    const records = await recordsOf(async () => {
      await server.grpc.read({ names });
      await connect.read({ names });
      await callFailure(server.client(undefined).read({ names }));
    }, 3);
    for (const record of records) {
      const kept = (record.items ?? record.names) as Array<{ name: string } | string>;
      expect(kept.length).toBeGreaterThanOrEqual(6);
      expect(kept.length + record.omitted).toBe(1000);
      const first = kept[0]!;
      expect(typeof first === "string" ? first : first.name).toBe(names[0]);
    }
  });

  it("names and team ids of Write, Delete and Rotate: valid ones as they are, others as length and digest", async () => {
    const bad = "x".repeat(600);
    const badTeam = "team with spaces";
    const records = await recordsOf(async () => {
      await callFailure(server.grpc.write({ name: bad, value: "sk-audit-value-1", teamId: badTeam }));
      await callFailure(server.grpc.delete({ name: "\u0085".repeat(10_000) }));
      await callFailure(server.grpc.rotate({ currentName: "FINE", newName: bad, value: "sk-audit-value-2" }));
      await server.grpc.write({ name: "FINE", value: "sk-audit-value-3", teamId: "" });
    }, 4);
    expect(records[0]).toMatchObject({
      method: "Write",
      outcome: "INVALID_ARGUMENT",
      name: digest(bad),
      teamId: digest(badTeam),
    });
    expect(records[1]).toMatchObject({
      method: "Delete",
      outcome: "INVALID_ARGUMENT",
      name: digest("\u0085".repeat(10_000)),
    });
    expect(records[2]).toMatchObject({
      method: "Rotate",
      outcome: "INVALID_ARGUMENT",
      currentName: "FINE",
      newName: digest(bad),
    });
    expect(records[3]).toMatchObject({ method: "Write", outcome: "OK", name: "FINE", stored: "FINE" });
  });

  it("bounds error messages copied into records", async () => {
    // The refusal echoes the name (each '"' escaped), well past what a record keeps of a message.
    const name = `${'"'.repeat(500)}\u0001`;
    const [record] = await recordsOf(() => callFailure(server.grpc.write({ name, value: "sk-audit-value-4" })), 1);
    expect(record).toMatchObject({ outcome: "INVALID_ARGUMENT", name: digest(name) });
    expect(Buffer.byteLength(record!.error)).toBeLessThanOrEqual(512);
    expect(record!.error).toMatch(/^name "/);
  });

  it("writes one record per request, refused ones included", async () => {
    const stranger = `tok_${randomBytes(16).toString("hex")}`;
    const records = await recordsOf(async () => {
      await callFailure(server.client(stranger).read({ names: ["A"] }));
      await callFailure(server.client(undefined).write({ name: "A", value: "sk-audit-value-5" }));
      await callFailure(server.grpc.read({ names: [] }));
      await server.grpc.read({ names: ["A"] });
      await server.json("Read", { names: ["A"] }, { authorization: "" });
    }, 5);
    expect(records.map((record) => [record.method, record.outcome])).toEqual([
      ["Read", "UNAUTHENTICATED"],
      ["Write", "UNAUTHENTICATED"],
      ["Read", "INVALID_ARGUMENT"],
      ["Read", "OK"],
      ["Read", "UNAUTHENTICATED"],
    ]);
  });
});
