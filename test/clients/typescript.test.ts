import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { context, TraceFlags, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { TraceState } from "@opentelemetry/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Code,
  checkHealth,
  createAdminClient,
  createSecretClient,
  ReadResponseSchema,
  type SecretClient,
  SecretResultSchema,
  SecretService,
} from "../../clients/typescript/src/index.js";
import { connectFailure } from "../helpers/call-failure.js";
import { freePort } from "../helpers/free-port.js";
import { startServerWithToken } from "../helpers/live-server.js";
import { run } from "../helpers/run-process.js";
import { ROOT, TestServer } from "../helpers/server.js";

describe("@secretgate/client against a live server", () => {
  let server: TestServer;
  let client: SecretClient;
  let token: string;
  const name = () => `ts-${randomUUID().slice(0, 12)}`;

  beforeAll(async () => {
    ({ server, token } = await startServerWithToken());
    client = createSecretClient(`http://${server.grpcAddress}`, { token });
  });
  afterAll(() => server?.stop());

  it("writes, reads (in request order, misses explicit), rotates, lists and deletes", async () => {
    const key = name();
    const written = await client.write({ name: key, value: "ts-1", tags: { via: "typescript" } });
    expect(written).toMatchObject({ name: key, version: "1", source: "local" });

    const { results } = await client.read({ names: [`${key}-missing`, key] });
    expect(results.map((r) => [r.name, r.found, r.value, r.error?.status])).toEqual([
      [`${key}-missing`, false, "", "NOT_FOUND"],
      [key, true, "ts-1", undefined],
    ]);

    const rotated = await client.rotate({ currentName: key, newName: `${key}-2`, value: "ts-2" });
    expect(rotated).toMatchObject({ name: `${key}-2`, oldDeleted: true });

    const { keys } = await client.listHosted({});
    expect(keys.find((k) => k.name === `${key}-2`)).toMatchObject({ resolves: true, source: "local" });
    expect(keys.some((k) => k.name === key)).toBe(false);

    expect(await client.delete({ name: `${key}-2`, force: true })).toMatchObject({ name: `${key}-2` });
    const after = await client.read({ names: [`${key}-2`] });
    expect(after.results[0]?.error?.status).toBe("NOT_FOUND");
  });

  it("checks health: the server, the token (a rejected one fails the check, naming it) and the back end a read reaches", async () => {
    const healthy = await checkHealth(`http://${server.grpcAddress}`, { token });
    expect(healthy).toMatchObject({
      healthy: true,
      server: { status: "ok" },
      token: { status: "ok" },
      backends: { status: "ok" },
    });
    expect(healthy.backends.detail).toContain("secretgate-readiness-probe");
    const rejected = await checkHealth(`http://${server.grpcAddress}`, {
      token: "not-a-token-the-server-knows",
      timeoutMs: 5_000,
    });
    expect(rejected).toMatchObject({
      healthy: false,
      server: { status: "ok" },
      token: { status: "failed" },
      backends: { status: "not checked" },
    });
    expect(rejected.token.detail).toMatch(/^rejected: UNAUTHENTICATED: /);
    expect(JSON.stringify(rejected)).not.toContain("not-a-token");
    const unreachable = await checkHealth(`http://127.0.0.1:${await freePort()}`, { token, timeoutMs: 5_000 });
    expect(unreachable).toMatchObject({
      healthy: false,
      server: { status: "failed" },
      token: { status: "not checked" },
    });
    expect(unreachable.server.detail).toContain("UNAVAILABLE");
  });

  it("works as built and published: tsc with the package's tsconfig, imported through its exports", async () => {
    const packageDir = join(ROOT, "clients", "typescript");
    const build = await run(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", join(packageDir, "tsconfig.json")]);
    expect(build.code, build.stdout).toBe(0);
    const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as {
      exports: { ".": { default: string } };
    };
    const entry = pathToFileURL(join(packageDir, manifest.exports["."].default)).href;
    const built = (await import(entry)) as typeof import("../../clients/typescript/src/index.js");
    const key = name();
    await client.write({ name: key, value: "from-src" });
    const builtClient = built.createSecretClient(`http://${server.grpcAddress}`, { token });
    const { results } = await builtClient.read({ names: [key] });
    expect(results[0]?.value).toBe("from-src");
  });

  it("answers names the server does not host from the caller's environment when asked to, and only those", async () => {
    // access_mode: write_only: every read is one LiteLLM would answer from its own environment.
    const writeOnly = await TestServer.start({
      config: { general_settings: { key_management_settings: { access_mode: "write_only" } } },
      env: { SECRETGATE_ADMIN_TOKEN: token },
    });
    try {
      const [hosted, notHosted, unset] = [name(), name(), name()];
      const env = { [notHosted]: "from-the-callers-environment", [hosted]: "never-used" };
      const plain = createSecretClient(`http://${writeOnly.grpcAddress}`, { token });
      const [plainResult] = (await plain.read({ names: [notHosted] })).results;
      expect(plainResult).toMatchObject({ found: false, error: { status: "NOT_FOUND", reason: "NOT_HOSTED" } });

      const falling = createSecretClient(`http://${writeOnly.grpcAddress}`, { token, environmentFallback: env });
      const { results } = await falling.read({ names: [notHosted, unset, "constructor"] });
      expect(results[0]).toMatchObject({
        found: true,
        value: "from-the-callers-environment",
        source: "caller_environment",
        error: undefined,
      });
      expect(results[1]).toMatchObject({ found: false, error: { reason: "NOT_HOSTED" } });
      expect(results[2]).toMatchObject({ found: false, error: { reason: "NOT_HOSTED" } });

      // The server that hosts every name: its miss is the back end's answer, never the environment's.
      const hostedFalling = createSecretClient(`http://${server.grpcAddress}`, { token, environmentFallback: env });
      const [miss] = (await hostedFalling.read({ names: [hosted] })).results;
      expect(miss).toMatchObject({ found: false, error: { status: "NOT_FOUND", reason: "NOT_IN_BACKEND" } });
    } finally {
      await writeOnly.stop();
    }
  });

  it("sends team settings with a call (a plain object for the Struct)", async () => {
    const key = name();
    const teamSettings = { prefix: "ts-inline/" };
    expect(await client.write({ name: key, value: "ts-inline-1", virtualKey: true, teamSettings })).toMatchObject({
      name: `ts-inline/${key}`,
    });
    const { results } = await client.read({ names: [key], virtualKey: true, teamSettings });
    expect(results[0]).toMatchObject({ found: true, value: "ts-inline-1", resolvedName: `ts-inline/${key}` });
    expect(await client.delete({ name: key, virtualKey: true, teamSettings })).toMatchObject({
      name: `ts-inline/${key}`,
    });
  });

  it("calls the operator's RPCs with the admin client beside the secret client: who am I, the back ends, the teams", async () => {
    const admin = createAdminClient(`http://${server.grpcAddress}`, { token });
    expect((await admin.whoAmI({})).caller).toMatchObject({ name: "admin", admin: true });
    expect((await admin.describeBackends({})).backends.map((backend) => backend.name)).toEqual(["local"]);
    await client.setTeamSettings({ teamId: "ts-admin-team", settings: { prefix: "ts/" } });
    expect((await admin.listTeams({})).teams.map((team) => team.teamId)).toContain("ts-admin-team");
    // Without a token, it is refused like any call.
    expect((await connectFailure(createAdminClient(`http://${server.grpcAddress}`).whoAmI({}))).code).toBe(
      Code.Unauthenticated,
    );
  });

  it("sets and gets team settings", async () => {
    const team = `team-${name()}`;
    const stored = await client.setTeamSettings({ teamId: team, settings: { prefix: "ts/" } });
    expect(stored).toMatchObject({ teamId: team, configured: true, settings: { prefix: "ts/" } });
    const fetched = await client.getTeamSettings({ teamId: team });
    expect(fetched.configured).toBe(true);
    expect(fetched.updatedAt).toBeDefined();
  });

  it.each([
    ["a missing secret's delete", (c: SecretClient) => c.delete({ name: "ts-never-written" }), Code.NotFound],
    ["a read of no names", (c: SecretClient) => c.read({ names: [] }), Code.InvalidArgument],
    [
      "an unknown team key",
      (c: SecretClient) => c.setTeamSettings({ teamId: "t", settings: { nope: 1 } }),
      Code.InvalidArgument,
    ],
  ])("rejects %s with its status code", async (_, call, code) => {
    expect((await connectFailure(call(client))).code).toBe(code);
  });
});

/**
 * A stand-in server that records each call's authorization header (and its trace context
 * headers): Read answers, ListHosted never does (until the caller gives up).
 */
async function startRecorder(): Promise<{
  url: string;
  seen: (string | null)[];
  traces: Array<[string | null, string | null]>;
  close: () => Promise<void>;
}> {
  const seen: (string | null)[] = [];
  const traces: Array<[string | null, string | null]> = [];
  const recorder: Http2Server = createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(SecretService, {
          read: (request, context) => {
            seen.push(context.requestHeader.get("authorization"));
            traces.push([context.requestHeader.get("traceparent"), context.requestHeader.get("tracestate")]);
            return create(ReadResponseSchema, {
              results: request.names.map((n) =>
                create(SecretResultSchema, { name: n, found: true, value: "recorded" }),
              ),
            });
          },
          listHosted: (_, context) =>
            new Promise((_resolve, reject) =>
              context.signal.addEventListener("abort", () => reject(context.signal.reason)),
            ),
        }),
    }),
  );
  await new Promise<void>((resolve) => recorder.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`,
    seen,
    traces,
    close: () => new Promise((resolve) => recorder.close(() => resolve())),
  };
}

describe("@secretgate/client transport", () => {
  let recorder: Awaited<ReturnType<typeof startRecorder>>;
  beforeAll(async () => {
    recorder = await startRecorder();
  });
  afterAll(() => recorder?.close());

  it("sends the token as a bearer authorization header", async () => {
    const response = await createSecretClient(recorder.url, { token: "t0ken" }).read({ names: ["a"] });
    await createSecretClient(recorder.url).read({ names: ["a"] });
    expect(response.results[0]?.value).toBe("recorded");
    expect(recorder.seen).toEqual(["Bearer t0ken", null]);
  });

  it("bounds every call by a deadline: the default, or the call's own", async () => {
    const bounded = createSecretClient(recorder.url, { defaultTimeoutMs: 200 });
    expect((await connectFailure(bounded.listHosted({}))).code).toBe(Code.DeadlineExceeded);
    const perCall = createSecretClient(recorder.url).listHosted({}, { timeoutMs: 200 });
    expect((await connectFailure(perCall)).code).toBe(Code.DeadlineExceeded);
  });

  it("reports an unreachable server as UNAVAILABLE", async () => {
    const port = await freePort();
    const client = createSecretClient(`http://127.0.0.1:${port}`, { token: "t" });
    expect((await connectFailure(client.listHosted({}))).code).toBe(Code.Unavailable);
  });

  it("sends the caller's active OpenTelemetry span as traceparent and tracestate, and nothing without one", async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    try {
      const span = {
        traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
        spanId: "00f067aa0ba902b7",
        traceFlags: TraceFlags.SAMPLED,
        traceState: new TraceState("vendor=opaque"),
      };
      const active = trace.setSpanContext(context.active(), span);
      const client = createSecretClient(recorder.url);
      const optedOut = createSecretClient(recorder.url, { propagateTraceContext: false });
      recorder.traces.length = 0;
      await context.with(active, async () => {
        await client.read({ names: ["a"] });
        await client.read(
          { names: ["a"] },
          { headers: { traceparent: "00-11111111111111111111111111111111-2222222222222222-00" } },
        );
        await optedOut.read({ names: ["a"] });
      });
      await client.read({ names: ["a"] });
      expect(recorder.traces).toEqual([
        ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=opaque"],
        ["00-11111111111111111111111111111111-2222222222222222-00", null],
        [null, null],
        [null, null],
      ]);
    } finally {
      context.disable();
    }
  });

  it("refuses a URL that is not http or https", () => {
    expect(() => createSecretClient("grpc://127.0.0.1:1")).toThrow(/http:\/\/ or https:\/\//);
  });

  it("refuses a default deadline that is no deadline, naming the option", async () => {
    for (const defaultTimeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 3_600_001]) {
      expect(() => createSecretClient(recorder.url, { defaultTimeoutMs })).toThrow(
        /defaultTimeoutMs must be a number of milliseconds greater than 0/,
      );
    }
    await expect(checkHealth(recorder.url, { timeoutMs: 0 })).rejects.toThrow(
      /timeoutMs must be a number of milliseconds greater than 0/,
    );
    expect(() => createSecretClient(recorder.url, { defaultTimeoutMs: 1 })).not.toThrow();
  });
});
