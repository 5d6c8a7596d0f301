import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresServer } from "../helpers/postgres-server.js";
import { TestServer } from "../helpers/server.js";

// docs/security.md, "The service's own environment": the service's own process environment holds its credentials and is never served
// by default; `secretgate.environment.serve` opts chosen names in, and no glob reaches the
// variables the service uses itself.

const NOT_HOSTED_MESSAGE = "not hosted here: read it from your own environment";
const random = (label: string) => `${label}-${randomBytes(12).toString("hex")}`;

const servers: TestServer[] = [];
async function startServer(options: Parameters<typeof TestServer.start>[0]): Promise<TestServer> {
  const server = await TestServer.start(options);
  servers.push(server);
  return server;
}

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

describe("by default", () => {
  let hosting: TestServer;
  let embedded: TestServer;
  const providerKey = random("sk-env");

  beforeAll(async () => {
    [hosting, embedded] = await Promise.all([
      startServer({
        config: {
          general_settings: {
            key_management_settings: { access_mode: "read_and_write", hosted_keys: ["OPENAI_API_KEY"] },
          },
        },
        env: { ANTHROPIC_API_KEY: providerKey },
      }),
      startServer({ env: { ANTHROPIC_API_KEY: providerKey } }),
    ]);
  });

  it("answers a variable of its environment that it does not host NOT_FOUND: not hosted here, reason NOT_HOSTED (gRPC)", async () => {
    const { results } = await hosting.grpc.read({ names: ["ANTHROPIC_API_KEY", "os.environ/ANTHROPIC_API_KEY"] });
    for (const result of results) {
      expect(result).toMatchObject({ name: "ANTHROPIC_API_KEY", found: false, value: "", source: "" });
      expect(result.error).toMatchObject({ code: Code.NotFound, status: "NOT_FOUND", reason: "NOT_HOSTED" });
      expect(result.error!.message).toContain(NOT_HOSTED_MESSAGE);
      expect(result.error!.message).toContain("hosted_keys");
    }
  });

  it("says the same over Connect JSON", async () => {
    const read = await hosting.json("Read", { names: ["ANTHROPIC_API_KEY"] });
    expect(read.status).toBe(200);
    expect(read.body.results[0]).toMatchObject({
      name: "ANTHROPIC_API_KEY",
      error: { status: "NOT_FOUND", reason: "NOT_HOSTED" },
    });
    expect(read.body.results[0].value).toBeUndefined();
    expect(read.body.results[0].error.message).toContain(NOT_HOSTED_MESSAGE);
  });

  it("answers a name the back end does not hold NOT_FOUND naming the back end (NOT_IN_BACKEND), without its environment", async () => {
    const { results } = await embedded.grpc.read({ names: ["ANTHROPIC_API_KEY"] });
    expect(results[0]).toMatchObject({
      found: false,
      value: "",
      error: { status: "NOT_FOUND", reason: "NOT_IN_BACKEND" },
    });
    expect(results[0]!.error!.message).toContain("was not found in local");
  });

  it("carries the reason on ListHosted entries too", async () => {
    const listed = await hosting.grpc.listHosted({});
    expect(listed.keys).toEqual([
      expect.objectContaining({
        name: "OPENAI_API_KEY",
        resolves: false,
        error: expect.objectContaining({ reason: "NOT_IN_BACKEND" }),
      }),
    ]);
    const json = await hosting.json("ListHosted", {});
    expect(json.body.keys[0].error).toMatchObject({ status: "NOT_FOUND", reason: "NOT_IN_BACKEND" });
  });
});

describe("with environment.serve: ['*']", () => {
  let postgres: PostgresServer;
  const onPostgres: TestServer[] = [];
  const readerToken = random("reader-token");
  const ordinary = random("sk-ordinary");
  /** The service's own variables, each holding a value no response may contain. */
  const own: Record<string, string> = {
    SECRETGATE_MASTER_KEY: randomBytes(32).toString("base64"),
    READER_TOKEN: readerToken,
    AWS_SECRET_ACCESS_KEY: random("aws-secret"),
    AWS_CONTAINER_AUTHORIZATION_TOKEN: random("container-token"),
    AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:9/${random("creds")}`,
    AWS_SHARED_CREDENTIALS_FILE: `/run/${random("credentials")}`,
    PGPASSWORD: random("pg-password"),
    AZURE_CLIENT_SECRET: random("azure-secret"),
  };

  beforeAll(async () => {
    postgres = await PostgresServer.start();
  });
  afterAll(async () => {
    await Promise.all(onPostgres.map((server) => server.stop()));
    await postgres?.stop();
  });

  // Both ways a Read reaches the environment: a name LiteLLM reads from the environment (not in
  // hosted_keys), and a name the back end does not hold.
  it.each([
    ["not in hosted_keys", { hosted_keys: ["HOSTED_ONLY"] }, "NOT_HOSTED"],
    ["missing from the back end", {}, "NOT_IN_BACKEND"],
  ])(
    "never serves the service's own variables to a caller allowed to read everything (%s)",
    async (label, settings, reason) => {
      const database = await postgres.createDatabase(label.replace(/\W/g, "_"));
      const env = {
        ...own,
        DATABASE_URL: database.replace("postgres@", `postgres:${random("db-password")}@`),
        ORDINARY_API_KEY: ordinary,
      };
      const server = await TestServer.start({
        config: {
          general_settings: { key_management_settings: { access_mode: "read_and_write", ...settings } },
          secretgate: {
            environment: { serve: ["*"] },
            auth: { tokens: [{ name: "reader", token: "os.environ/READER_TOKEN", rules: { read: ["*"] } }] },
          },
        },
        env,
      });
      onPostgres.push(server);
      const protectedNames = [
        "SECRETGATE_ADMIN_TOKEN",
        ...Object.keys(env).filter((name) => name !== "ORDINARY_API_KEY"),
      ];
      const { results } = await server.client(readerToken).read({ names: [...protectedNames, "ORDINARY_API_KEY"] });

      expect(results.at(-1)).toMatchObject({ name: "ORDINARY_API_KEY", found: true, value: ordinary, source: "env" });
      for (const result of results.slice(0, -1)) {
        expect(result, result.name).toMatchObject({ found: false, value: "", error: { status: "NOT_FOUND", reason } });
      }
      const answered = JSON.stringify(results.slice(0, -1));
      for (const value of [server.token!, ...Object.values(env)]) expect(answered.includes(value)).toBe(false);
    },
  );
});

describe("start-up", () => {
  it.each([true, false])(
    "refuses a config that still sets env_fallback (%s), naming secretgate.environment.serve",
    async (value) => {
      const failure = await TestServer.startExpectingFailure({ config: { secretgate: { env_fallback: value } } });
      expect(failure.code).toBe(2);
      expect(failure.stderr).toContain("secretgate.env_fallback");
      expect(failure.stderr).toContain("secretgate.environment.serve");
    },
  );

  it("refuses a config that still sets secretgate.backend (the retry and breaker settings), naming secretgate.resilience", async () => {
    const failure = await TestServer.startExpectingFailure({
      config: { secretgate: { backend: { retry_max_attempts: 2 } } },
    });
    expect(failure.code).toBe(2);
    expect(failure.stderr).toContain("secretgate.backend was renamed");
    expect(failure.stderr).toContain("secretgate.resilience");
  });
});
