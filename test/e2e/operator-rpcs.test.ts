import { rmSync } from "node:fs";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService, type TailAuditResponse } from "../../gen/secretgate/v1/admin_service_pb.js";
import type { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";
import { connectFailure } from "../helpers/call-failure.js";
import { startOperatorBed } from "../helpers/operator-bed.js";
import { stopServer, TestServer } from "../helpers/server.js";
import type { VaultTestBed } from "../helpers/vault-test-bed.js";

// The operator RPCs the console uses (WhoAmI, ListTeams, TestTeamSettings, TailAudit, GetStats,
// ListCallers), on both ports, against the embedded store and the Vault emulator: who may call
// them, what they answer, and what hostile input gets.

const READER_TOKEN = "reader-token-3f9c0d1e7a2b4c5d";
const VALUE = "sk-operator-rpcs-value-9d8e7f6a";

let vault: VaultTestBed;
let server: TestServer;
let reader: Client<typeof SecretService>;
let readerAdmin: Client<typeof AdminService>;

/** A Connect client over HTTP/1.1 to the HTTP port, as the console's connect-web is. */
function httpClient(
  token: string | undefined,
  protocol: "connect" | "grpc-web" = "connect",
): Client<typeof AdminService> {
  const options = {
    baseUrl: `http://${server.httpAddress}`,
    httpVersion: "1.1" as const,
    interceptors: token
      ? [
          (next: any) => (request: any) => {
            request.header.set("authorization", `Bearer ${token}`);
            return next(request);
          },
        ]
      : [],
  };
  return createClient(
    AdminService,
    protocol === "connect" ? createConnectTransport(options) : createGrpcWebTransport(options),
  );
}

/** The next record of a tail that matches, within a bounded number of records. */
async function nextMatching(
  tail: AsyncIterator<TailAuditResponse>,
  match: (response: TailAuditResponse) => boolean,
): Promise<TailAuditResponse> {
  for (let seen = 0; seen < 200; seen++) {
    const next = await tail.next();
    if (next.done) throw new Error("the tail ended");
    if (match(next.value)) return next.value;
  }
  throw new Error("no matching record among 200");
}

beforeAll(async () => {
  ({ vault, server } = await startOperatorBed(READER_TOKEN));
  reader = server.client(READER_TOKEN);
  readerAdmin = server.adminClient(READER_TOKEN);
  await server.grpc.write({ name: "OPENAI_API_KEY", value: VALUE });
});

afterAll(async () => {
  await stopServer(server);
  await vault?.close();
});

describe("WhoAmI", () => {
  it("tells any caller its identity and rules, never its token", async () => {
    const admin = await server.admin.whoAmI({});
    expect(admin.caller).toMatchObject({ name: "admin", kind: "admin_token", admin: true, read: ["*"] });
    const self = await httpClient(READER_TOKEN).whoAmI({});
    expect(self.caller).toMatchObject({
      name: "reader",
      kind: "token",
      admin: false,
      read: ["OPENAI_*"],
      backends: ["local"],
    });
    expect(JSON.stringify(self)).not.toContain(READER_TOKEN);
    expect((await connectFailure(httpClient("not-a-token").whoAmI({}))).code).toBe(Code.Unauthenticated);
  });
});

describe("admin only", () => {
  it("refuses every operator RPC to a non-admin on both ports, naming the need", async () => {
    for (const client of [readerAdmin, httpClient(READER_TOKEN)]) {
      for (const call of [
        () => client.listTeams({}),
        () => client.testTeamSettings({ settings: {} }),
        () => client.getStats({}),
        () => client.listCallers({}),
        async () => {
          for await (const _ of client.tailAudit({})) break;
        },
      ]) {
        const error = await connectFailure(call());
        expect(error.code).toBe(Code.PermissionDenied);
        expect(error.rawMessage).toContain("needs admin");
      }
    }
  });
});

describe("ListCallers", () => {
  it("lists the configured identities with their rules and no token or digest", async () => {
    const { callers } = await httpClient(server.token).listCallers({});
    expect(callers.map((caller) => caller.name)).toEqual(["reader", "admin"]);
    expect(callers[0]).toMatchObject({
      kind: "token",
      read: ["OPENAI_*"],
      write: [],
      admin: false,
      backends: ["local"],
    });
    const text = JSON.stringify(callers);
    expect(text).not.toContain(READER_TOKEN);
    expect(text).not.toContain(server.token!);
    expect(text).not.toMatch(/[0-9a-f]{64}/);
  });
});

describe("ListTeams", () => {
  beforeAll(async () => {
    for (const team of ["team-c", "team-a", "team-b"])
      await server.grpc.setTeamSettings({ teamId: team, settings: {} });
    await server.grpc.setTeamSettings({ teamId: "team-a", settings: { backend: "vault", namespace: "team-ns" } });
    await server.grpc.setTeamSettings({ teamId: "team-b", settings: { prefix: "b/" } });
    await server.grpc.setTeamSettings({ teamId: "team-c", settings: { backend: "vault", mount: "kv" } });
  });

  it("pages through the teams by id, with the back end their settings belong to", async () => {
    const first = await server.admin.listTeams({ pageSize: 2 });
    expect(first.teams.map((team) => [team.teamId, team.backend])).toEqual([
      ["team-a", "vault"],
      ["team-b", "local"],
    ]);
    expect(first.nextPageToken).not.toBe("");
    const second = await server.admin.listTeams({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.teams.map((team) => team.teamId)).toEqual(["team-c"]);
    expect(second.nextPageToken).toBe("");
    expect(second.teams[0]!.updatedAt).toBeDefined();
  });

  it("refuses a bad page size or token, naming the field", async () => {
    const huge = "A".repeat(100_000);
    for (const [request, field] of [
      [{ pageSize: -1 }, "page_size"],
      [{ pageSize: 1001 }, "page_size"],
      [{ pageToken: "../../etc/passwd" }, "page_token"],
      [{ pageToken: "%2e%2e" }, "page_token"],
      [{ pageToken: "team\u0000a" }, "page_token"],
      [{ pageToken: Buffer.from("bad team\n").toString("base64url") }, "page_token"],
      [{ pageToken: huge }, "page_token"],
    ] as const) {
      const error = await connectFailure(server.admin.listTeams(request));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain(field);
    }
  });
});

describe("TestTeamSettings", () => {
  it("probes the back end under the settings without storing them", async () => {
    const reachable = await server.admin.testTeamSettings({
      teamId: "team-new",
      settings: { backend: "vault", namespace: "team-ns" },
    });
    expect(reachable).toMatchObject({ backend: "vault", reachable: true, status: "OK" });
    const missing = await httpClient(server.token).testTeamSettings({
      teamId: "team-new",
      settings: { backend: "vault", namespace: "no-such-ns" },
    });
    expect(missing.backend).toBe("vault");
    expect(missing.reachable).toBe(false);
    expect(missing.status).not.toBe("OK");
    expect(missing.message).not.toBe("");
    expect((await server.grpc.getTeamSettings({ teamId: "team-new" })).configured).toBe(false);
  });

  it("refuses invalid settings as SetTeamSettings does, naming the key", async () => {
    for (const [settings, key] of [
      [{ backend: "vault", namespace: 42 }, "settings.namespace"],
      [{ backend: "vault", no_such_key: "x" }, "no_such_key"],
      [{ backend: "nowhere" }, "settings.backend"],
      [{ backend: "vault", namespace: "x".repeat(20_000) }, "settings"],
    ] as const) {
      const error = await connectFailure(server.admin.testTeamSettings({ settings: settings as never }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain(key);
    }
    const badTeam = await connectFailure(server.admin.testTeamSettings({ teamId: "../etc", settings: {} }));
    expect(badTeam.code).toBe(Code.InvalidArgument);
    expect(badTeam.rawMessage).toContain("team_id");
  });
});

describe("GetStats", () => {
  it("counts each back end's calls, cache hits and misses over the window", async () => {
    await server.grpc.read({ names: ["OPENAI_API_KEY"], bypassCache: true });
    for (let index = 0; index < 3; index++) await server.grpc.read({ names: ["OPENAI_API_KEY"] });
    const stats = await httpClient(server.token).getStats({});
    expect(stats.windowSeconds).toBe(300);
    expect(stats.bucketSeconds).toBe(10);
    expect(stats.backends.map((backend) => backend.name)).toEqual(["local", "vault"]);
    const local = stats.backends[0]!;
    expect(local.calls).toBeGreaterThanOrEqual(1n);
    expect(local.cacheHits).toBeGreaterThanOrEqual(3n);
    expect(local.cacheMisses).toBeGreaterThanOrEqual(1n);
    expect(local.callsSeries).toHaveLength(30);
    expect(local.callsSeries.reduce((sum, count) => sum + count, 0n)).toBe(local.calls);
    expect(local.p99Ms).toBeGreaterThanOrEqual(local.p50Ms);
  });
});

describe("ListHosted", () => {
  it("says when each value was fetched and whether it came from the cache, never the value", async () => {
    const { keys } = await server.grpc.listHosted({ backend: "local" });
    const key = keys.find((entry) => entry.name === "OPENAI_API_KEY")!;
    expect(key).toMatchObject({ resolves: true, stale: false });
    expect(key.fetchedAt).toBeDefined();
    expect(JSON.stringify(keys, (_key, value) => (typeof value === "bigint" ? String(value) : value))).not.toContain(
      VALUE,
    );
  });
});

describe("TailAudit", () => {
  it("streams the records of calls made meanwhile, on both ports, without values", async () => {
    for (const client of [server.admin, httpClient(server.token), httpClient(server.token, "grpc-web")]) {
      const controller = new AbortController();
      const tail = client.tailAudit({}, { signal: controller.signal })[Symbol.asyncIterator]();
      // The tail's own record says it is open.
      await nextMatching(tail, (response) => response.record?.method === "TailAudit");
      await reader.read({ names: ["OPENAI_API_KEY"] });
      const { record } = await nextMatching(
        tail,
        (response) => response.record?.method === "Read" && response.record.identity === "reader",
      );
      expect(record).toMatchObject({ outcome: "OK", names: ["OPENAI_API_KEY"] });
      expect(JSON.parse(record!.json)).toMatchObject({ identity: "reader", method: "Read" });
      expect(record!.json).not.toContain(VALUE);
      controller.abort();
    }
  });

  it("refuses a seventeenth subscriber, and frees a place when one leaves", async () => {
    const controllers = Array.from({ length: 16 }, () => new AbortController());
    const tails = controllers.map((controller) =>
      server.admin.tailAudit({}, { signal: controller.signal })[Symbol.asyncIterator](),
    );
    // Each is open once its own record arrives.
    await Promise.all(tails.map((tail) => nextMatching(tail, (response) => response.record?.method === "TailAudit")));
    const refused = await connectFailure(
      (async () => {
        for await (const _ of server.admin.tailAudit({})) break;
      })(),
    );
    expect(refused.code).toBe(Code.ResourceExhausted);
    controllers[0]!.abort();
    // The server notices the cancellation asynchronously: wait (bounded) for the place.
    let reopened = false;
    for (let attempt = 0; attempt < 50 && !reopened; attempt++) {
      const controller = new AbortController();
      try {
        const tail = server.admin.tailAudit({}, { signal: controller.signal })[Symbol.asyncIterator]();
        await tail.next();
        reopened = true;
      } catch (error) {
        expect(ConnectError.from(error).code).toBe(Code.ResourceExhausted);
        await new Promise((resolve) => setTimeout(resolve, 100));
      } finally {
        controller.abort();
      }
    }
    expect(reopened).toBe(true);
    for (const controller of controllers) controller.abort();
  });

  it("ends with UNAVAILABLE when the server shuts down", async () => {
    const own = await TestServer.start();
    try {
      const tail = own.admin.tailAudit({})[Symbol.asyncIterator]();
      await nextMatching(tail, (response) => response.record?.method === "TailAudit");
      const ended = connectFailure(
        (async () => {
          for (let next = await tail.next(); !next.done; next = await tail.next());
        })(),
      );
      own.process.kill("SIGTERM");
      expect((await ended).code).toBe(Code.Unavailable);
    } finally {
      await own.stop();
      rmSync(own.dataDir, { recursive: true, force: true });
    }
  });

  it("answers a malformed request body with INVALID_ARGUMENT on both ports", async () => {
    const grpcError = await fetch(`http://${server.httpAddress}/secretgate.v1.AdminService/TailAudit`, {
      method: "POST",
      headers: { "content-type": "application/connect+json", authorization: `Bearer ${server.token}` },
      body: Buffer.from([0, 0, 0, 0, 3, 0x7b, 0x7b, 0x7b]),
    });
    const text = await grpcError.text();
    expect(text).toContain("invalid_argument");
  });
});
