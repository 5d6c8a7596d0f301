import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestServer } from "../helpers/server.js";

// Codes a well-behaved server may answer hostile input with; INTERNAL, UNKNOWN or a deadline
// (a hang) would be a defect.
const ACCEPTABLE = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.ResourceExhausted,
]);
const CALL_TIMEOUT_MS = 5_000;

let server: TestServer;
beforeAll(async () => {
  server = await TestServer.start({ env: { SECRETGATE_LOG_LEVEL: "info" } });
});
afterAll(async () => {
  await server.stop();
});

async function outcome(call: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await call;
    return "ok";
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

function expectAcceptable(result: Code | "ok"): void {
  if (result !== "ok") expect(ACCEPTABLE.has(result), `answered ${Code[result]}`).toBe(true);
}

const options = { timeoutMs: CALL_TIMEOUT_MS };
// A property normally runs in a second or two. Past 20 s, fast-check stops and fails with the
// smallest counterexample it has, rather than shrinking a 60 KB value until vitest's 30 s
// timeout hides it.
const BOUNDED = { interruptAfterTimeLimit: 20_000, markInterruptAsFailure: true };
const anyText = fc.string({ unit: "binary", maxLength: 600 });

describe("hostile input (property-based)", () => {
  it("survives random names and values in Write and Read", async () => {
    await fc.assert(
      fc.asyncProperty(
        anyText,
        fc.oneof(anyText, fc.string({ minLength: 60_000, maxLength: 70_000 })),
        fc.array(anyText, { maxLength: 20 }),
        async (name, value, names) => {
          expectAcceptable(await outcome(server.grpc.write({ name, value }, options)));
          const read = server.grpc.read({ names: [name, ...names] }, options);
          const result = await outcome(read);
          expectAcceptable(result);
          if (result === "ok") {
            for (const item of (await read).results) if (item.error) expect(ACCEPTABLE.has(item.error.code)).toBe(true);
          }
        },
      ),
      // fast-check draws names like these only now and then; these cases run every time.
      { ...BOUNDED, numRuns: 60, examples: [["ltoString\u0000", "toString", ["__proto__", "constructor"]]] },
    );
  });

  it("survives random back-end references and backend fields", async () => {
    const backend = fc.oneof(fc.constant(""), fc.constant("local"), anyText);
    const reference = fc
      .tuple(backend, fc.constantFrom("://", "://://", ":/", "//"), anyText)
      .map(([name, separator, rest]) => `${name}${separator}${rest}`);
    await fc.assert(
      fc.asyncProperty(fc.oneof(reference, anyText), backend, async (name, requested) => {
        expectAcceptable(
          await outcome(server.grpc.write({ name, value: "sk-hostile-reference", backend: requested }, options)),
        );
        const read = server.grpc.read({ names: [name, `os.environ/${name}`], backend: requested }, options);
        const result = await outcome(read);
        expectAcceptable(result);
        if (result === "ok") {
          for (const item of (await read).results) if (item.error) expect(ACCEPTABLE.has(item.error.code)).toBe(true);
        }
        expectAcceptable(await outcome(server.grpc.listHosted({ backend: requested }, options)));
        expectAcceptable(await outcome(server.grpc.delete({ name, backend: requested }, options)));
      }),
      {
        ...BOUNDED,
        numRuns: 60,
        examples: [
          ["local://__proto__", "local"],
          ["local://", ""],
          ["://x", "constructor"],
        ],
      },
    );
  });

  it("survives random team settings and team ids, stored and sent with calls", async () => {
    await fc.assert(
      fc.asyncProperty(
        anyText,
        fc.dictionary(anyText, fc.jsonValue({ maxDepth: 12 }), { maxKeys: 8 }),
        async (teamId, settings) => {
          expectAcceptable(
            await outcome(server.grpc.setTeamSettings({ teamId, settings: settings as never }, options)),
          );
          expectAcceptable(await outcome(server.grpc.getTeamSettings({ teamId }, options)));
          const teamSettings = settings as never;
          expectAcceptable(
            await outcome(
              server.grpc.write(
                { name: "HOSTILE_TEAM", value: "sk-hostile-team-value", teamId, teamSettings },
                options,
              ),
            ),
          );
          expectAcceptable(await outcome(server.grpc.read({ names: ["HOSTILE_TEAM"], teamSettings }, options)));
          expectAcceptable(
            await outcome(
              server.grpc.rotate({ currentName: "HOSTILE_TEAM", value: "sk-hostile-rotated", teamSettings }, options),
            ),
          );
          expectAcceptable(await outcome(server.grpc.delete({ name: "HOSTILE_TEAM", teamSettings }, options)));
        },
      ),
      { ...BOUNDED, numRuns: 60 },
    );
  });

  it("survives random bytes as protobuf bodies on the gRPC port", async () => {
    const client = new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${server.token}`);
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            "Read",
            "Write",
            "Delete",
            "Rotate",
            "ListHosted",
            "SetTeamSettings",
            "GetTeamSettings",
            "DescribeBackends",
            "WhoAmI",
            "ListTeams",
            "TestTeamSettings",
            "GetStats",
            "ListCallers",
            "PlanMigration",
            "MigrateSecret",
          ),
          fc.uint8Array({ maxLength: 2048 }),
          async (method, bytes) => {
            const code = await new Promise<number>((resolve) => {
              client.makeUnaryRequest(
                `/secretgate.v1.SecretService/${method}`,
                (b: Buffer) => b,
                (b: Buffer) => b,
                Buffer.from(bytes),
                metadata,
                { deadline: Date.now() + CALL_TIMEOUT_MS },
                (error) => resolve(error ? error.code : grpc.status.OK),
              );
            });
            expect([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DEADLINE_EXCEEDED]).not.toContain(code);
          },
        ),
        { ...BOUNDED, numRuns: 150 },
      );
    } finally {
      client.close();
    }
  });

  it("survives random bytes as the body of the server-streaming TailAudit on the gRPC port", async () => {
    const client = new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${server.token}`);
    try {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 512 }), async (bytes) => {
          const code = await new Promise<number>((resolve) => {
            const call = client.makeServerStreamRequest(
              `/secretgate.v1.AdminService/TailAudit`,
              (b: Buffer) => b,
              (b: Buffer) => b,
              Buffer.from(bytes),
              metadata,
              {
                deadline: Date.now() + CALL_TIMEOUT_MS,
              },
            );
            // A body that happens to decode opens a tail: its first record proves it, and it is closed.
            call.on("data", () => call.cancel());
            call.on("error", (error: grpc.ServiceError) => resolve(error.code));
            call.on("status", (status: grpc.StatusObject) => resolve(status.code));
          });
          expect([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DEADLINE_EXCEEDED]).not.toContain(code);
        }),
        { ...BOUNDED, numRuns: 40 },
      );
    } finally {
      client.close();
    }
  });

  it("survives random page tokens, page sizes, team ids and settings in the operator RPCs", async () => {
    await fc.assert(
      fc.asyncProperty(
        anyText,
        fc.integer(),
        anyText,
        fc.dictionary(anyText, fc.jsonValue({ maxDepth: 12 }), { maxKeys: 8 }),
        async (pageToken, pageSize, teamId, settings) => {
          expectAcceptable(await outcome(server.admin.listTeams({ pageToken, pageSize }, options)));
          const tested = server.admin.testTeamSettings({ teamId, settings: settings as never }, options);
          expectAcceptable(await outcome(tested));
        },
      ),
      {
        ...BOUNDED,
        numRuns: 60,
        examples: [
          ["", 2 ** 31 - 1, "", { backend: "__proto__" }],
          ["Lw", -1, "..", { prefix: "[redacted]" }],
        ],
      },
    );
  });

  it("survives random bytes as JSON and binary bodies on the Connect port", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("Read", "Write", "SetTeamSettings", "ListTeams", "TestTeamSettings", "WhoAmI"),
        fc.constantFrom("application/json", "application/proto"),
        fc.oneof(
          fc.uint8Array({ maxLength: 2048 }),
          fc.json().map((text) => new TextEncoder().encode(text)),
        ),
        async (method, contentType, body) => {
          const response = await fetch(`http://${server.httpAddress}/secretgate.v1.SecretService/${method}`, {
            method: "POST",
            headers: { "content-type": contentType, authorization: `Bearer ${server.token}` },
            body,
            signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
          });
          expect(response.status).toBeLessThan(500);
          await response.arrayBuffer();
        },
      ),
      { ...BOUNDED, numRuns: 150 },
    );
  });

  it("refuses a message over the 4 MiB limit on both listeners, and keeps serving", async () => {
    const huge = "n".repeat(5 * 1024 * 1024);
    expect(await outcome(server.grpc.read({ names: [huge] }, options))).toBe(Code.ResourceExhausted);
    const response = await server.json("Read", { names: [huge] });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    await server.grpc.write({ name: "STILL_HERE", value: "sk-survivor-value" });
    expect((await server.grpc.read({ names: ["STILL_HERE"] })).results[0]).toMatchObject({ found: true });
    expect(server.process.exitCode).toBeNull();
  });
});
