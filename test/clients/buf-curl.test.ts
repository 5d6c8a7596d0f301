import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretClient } from "../../clients/typescript/src/index.js";
import { startServerWithToken } from "../helpers/live-server.js";
import { run } from "../helpers/run-process.js";
import { ROOT, type TestServer } from "../helpers/server.js";

// `buf curl` is the npm-installable grpcurl: it discovers the schema through server reflection.
describe("debugging with buf curl (server reflection)", () => {
  let server: TestServer;
  let admin: SecretClient;
  let auth: string;
  const buf = (...args: string[]) =>
    run(join(ROOT, "node_modules", ".bin", "buf"), [
      "curl",
      "--protocol=grpc",
      "--http2-prior-knowledge",
      "--header",
      auth,
      "--reflect-header",
      auth,
      ...args,
    ]);

  beforeAll(async () => {
    const started = await startServerWithToken();
    ({ server, admin } = started);
    auth = `authorization: Bearer ${started.token}`;
  });
  afterAll(() => server?.stop());

  it("lists both services, health and reflection, and every method of each: what a proxy calls and what an operator calls", async () => {
    const services = await buf("--list-services", `http://${server.grpcAddress}`);
    expect(services.code, services.stderr).toBe(0);
    expect(services.stdout.trim().split("\n").sort()).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "secretgate.v1.AdminService",
      "secretgate.v1.SecretService",
    ]);

    const methods = await buf("--list-methods", `http://${server.grpcAddress}`);
    expect(methods.code, methods.stderr).toBe(0);
    expect(methods.stdout.trim().split("\n").sort()).toEqual([
      ...["Check", "List", "Watch"].map((method) => `grpc.health.v1.Health/${method}`),
      "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      ...[
        "DescribeBackends",
        "GetStats",
        "ListCallers",
        "ListTeams",
        "MigrateSecret",
        "PlanMigration",
        "TailAudit",
        "TestTeamSettings",
        "WhoAmI",
      ].map((method) => `secretgate.v1.AdminService/${method}`),
      ...["Delete", "GetTeamSettings", "ListHosted", "Read", "Rotate", "SetTeamSettings", "Write"].map(
        (method) => `secretgate.v1.SecretService/${method}`,
      ),
    ]);
  });

  it.each(["grpc-v1", "grpc-v1alpha"])("checks health knowing only what reflection (%s) says", async (protocol) => {
    const check = await buf(
      "--reflect-protocol",
      protocol,
      "--data",
      "{}",
      `http://${server.grpcAddress}/grpc.health.v1.Health/Check`,
    );
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toEqual({ status: "SERVING" });
  });

  it("calls Read with a JSON body", async () => {
    await admin.write({ name: "BUF_CURL_KEY", value: "from-buf-curl" });
    const read = await buf(
      "--data",
      '{"names": ["BUF_CURL_KEY", "BUF_CURL_MISSING"]}',
      `http://${server.grpcAddress}/secretgate.v1.SecretService/Read`,
    );
    expect(read.code, read.stderr).toBe(0);
    type Result = { name: string; found?: boolean; value?: string; error?: { status: string } };
    const { results } = JSON.parse(read.stdout) as { results: Result[] };
    expect(results.map((r) => [r.name, r.found ?? false, r.value ?? "", r.error?.status])).toEqual([
      ["BUF_CURL_KEY", true, "from-buf-curl", undefined],
      ["BUF_CURL_MISSING", false, "", "NOT_FOUND"],
    ]);
  });

  it("calls an AdminService method knowing only what reflection says", async () => {
    const whoAmI = await buf("--data", "{}", `http://${server.grpcAddress}/secretgate.v1.AdminService/WhoAmI`);
    expect(whoAmI.code, whoAmI.stderr).toBe(0);
    expect(JSON.parse(whoAmI.stdout)).toMatchObject({ caller: { name: "admin", admin: true } });
    // The operator's RPCs moved: the data service no longer has them.
    const moved = await buf("--data", "{}", `http://${server.grpcAddress}/secretgate.v1.SecretService/WhoAmI`);
    expect(moved.code).not.toBe(0);
  });
});
