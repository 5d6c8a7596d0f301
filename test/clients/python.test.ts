import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServerWithToken } from "../helpers/live-server.js";
import { PYTHON, run } from "../helpers/run-process.js";
import { ROOT, TestServer } from "../helpers/server.js";

const PACKAGE = join(ROOT, "clients", "python");

describe("Python client (pytest)", () => {
  let server: TestServer;
  let token: string;
  // Answers every read "not hosted here" (NOT_HOSTED): the adapter's fallback to the proxy's environment.
  let writeOnly: TestServer;
  // Hosts OPENAI_API_KEY only, as the README's configuration does: the health check still reaches the back end.
  let hostedKeys: TestServer;

  beforeAll(async () => {
    ({ server, token } = await startServerWithToken());
    writeOnly = await TestServer.start({
      config: { general_settings: { key_management_settings: { access_mode: "write_only" } } },
      env: { SECRETGATE_ADMIN_TOKEN: token },
    });
    hostedKeys = await TestServer.start({
      config: { general_settings: { key_management_settings: { hosted_keys: ["OPENAI_API_KEY"] } } },
      env: { SECRETGATE_ADMIN_TOKEN: token },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await writeOnly?.stop();
    await hostedKeys?.stop();
  });

  it("passes its suite against a live server: both clients, the LiteLLM adapter, error codes", async () => {
    const result = await run(PYTHON, ["-m", "pytest", "-p", "no:cacheprovider", "-q", "tests"], {
      cwd: PACKAGE,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        PYTHONPATH: PACKAGE,
        PYTHONDONTWRITEBYTECODE: "1",
        SECRETGATE_TEST_ADDR: server.grpcAddress,
        SECRETGATE_TEST_TOKEN: token,
        SECRETGATE_TEST_WRITE_ONLY_ADDR: writeOnly.grpcAddress,
        SECRETGATE_TEST_HOSTED_KEYS_ADDR: hostedKeys.grpcAddress,
      },
    });
    // Exit code 5 means pytest collected nothing: a failure here, like any non-zero code.
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    // The summary names every outcome; anything besides "passed" (skipped, xfailed, …) fails the run.
    expect(result.stdout).toMatch(/^\d+ passed in [\d.]+s$/m);
  }, 120_000);
});
