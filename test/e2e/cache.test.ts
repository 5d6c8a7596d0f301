import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestServer } from "../helpers/server.js";

describe("cache and graceful shutdown through the server", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await TestServer.start();
  });
  afterAll(async () => {
    await server.stop();
  });

  it("marks cache hits, and a Write is read fresh at once", async () => {
    await server.grpc.write({ name: "CACHED", value: "first" });
    const first = (await server.grpc.read({ names: ["CACHED"] })).results[0]!;
    const second = (await server.grpc.read({ names: ["CACHED"] })).results[0]!;
    expect(first).toMatchObject({ value: "first", fromCache: false, stale: false });
    expect(second).toMatchObject({ value: "first", fromCache: true, stale: false, version: first.version });
    expect(second.fetchedAt).toEqual(first.fetchedAt);

    await server.grpc.write({ name: "CACHED", value: "second" });
    expect((await server.grpc.read({ names: ["CACHED"] })).results[0]).toMatchObject({
      value: "second",
      fromCache: false,
      version: "2",
    });
    expect((await server.grpc.read({ names: ["CACHED"], bypassCache: true })).results[0]).toMatchObject({
      value: "second",
      fromCache: false,
    });
  });

  it("reports readiness details: back end, breaker state, cache size", async () => {
    const response = await fetch(`http://${server.httpAddress}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: "ready",
      backend: "local",
      breaker: "closed",
      cache: { entries: expect.any(Number) },
    });
  });
});

it("finishes every in-flight call on SIGTERM and exits 0", async () => {
  const server = await TestServer.start();
  const names = Array.from({ length: 1000 }, (_, index) => `LOAD_${index}`);
  await server.grpc.write({ name: "LOAD_0", value: randomBytes(8).toString("hex") });
  await server.grpc.read({ names: ["LOAD_0"] }); // the connection is up before the load starts
  const calls = Array.from({ length: 40 }, () => server.grpc.read({ names, bypassCache: true }));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const exited = server.stop("SIGTERM");
  const outcomes = await Promise.allSettled(calls);
  expect(outcomes.filter((outcome) => outcome.status === "rejected")).toEqual([]);
  for (const outcome of outcomes) {
    if (outcome.status === "fulfilled") expect(outcome.value.results).toHaveLength(1000);
  }
  expect(await exited).toBe(0);
});
