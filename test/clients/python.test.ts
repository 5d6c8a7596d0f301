import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestServer } from "../helpers/server.js";
import { PYTHON, ROOT, run, startServerWithToken } from "./live-server.js";

const PACKAGE = join(ROOT, "clients", "python");

describe("Python client (pytest)", () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    ({ server, token } = await startServerWithToken());
  });
  afterAll(() => server?.stop());

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
      },
    });
    // Exit code 5 means pytest collected nothing: a failure here, like any non-zero code.
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    // The summary names every outcome; anything besides "passed" (skipped, xfailed, …) fails the run.
    expect(result.stdout).toMatch(/^\d+ passed in [\d.]+s$/m);
  }, 120_000);
});
