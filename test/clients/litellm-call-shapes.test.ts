import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PYTHON, run } from "../helpers/run-process.js";
import { ROOT, TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";

const SUITE = join(ROOT, "test", "clients", "litellm");

describe("the LiteLLM adapter in LiteLLM's call shapes (pytest), on Vault with two teams in different namespaces", () => {
  let bed: VaultTestBed;
  let server: TestServer;
  const proxyToken = `litellm-${randomBytes(18).toString("base64url")}`;
  const plainToken = `plain-${randomBytes(18).toString("base64url")}`;
  const limitedToken = `limited-${randomBytes(18).toString("base64url")}`;

  beforeAll(async () => {
    // The suite sets up the teams' namespaces, mounts and the policy "litellm-teams" itself (the
    // emulator's /_emulator/configure), so each team's location is written down in one place.
    bed = await startVaultTestBed({ policies: ["secretgate", "litellm-teams"] });
    const rules = { read: ["*"], write: ["*"], delete: ["*"], teams: ["*"] };
    server = await TestServer.start({
      config: {
        general_settings: {
          key_management_system: "hashicorp_vault",
          key_management_settings: { access_mode: "read_and_write" },
        },
        secretgate: {
          auth: {
            tokens: [
              {
                name: "litellm-proxy",
                token: "os.environ/LITELLM_PROXY_TOKEN",
                rules: { ...rules, inline_team_settings: true },
              },
              { name: "proxy-without-inline-settings", token: "os.environ/PLAIN_PROXY_TOKEN", rules },
              // Deletes only what its rules name: a /key/delete with another key is refused for that key.
              {
                name: "proxy-deleting-key-aliases-only",
                token: "os.environ/LIMITED_PROXY_TOKEN",
                rules: { ...rules, delete: ["litellm/key-*"], inline_team_settings: true },
              },
            ],
          },
        },
      },
      env: {
        ...bed.env("approle"),
        LITELLM_PROXY_TOKEN: proxyToken,
        PLAIN_PROXY_TOKEN: plainToken,
        LIMITED_PROXY_TOKEN: limitedToken,
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await bed?.close();
  });

  it("passes: reads with the settings dump, writes, deletes and rotations land in each team's namespace", async () => {
    const result = await run(PYTHON, ["-m", "pytest", "-p", "no:cacheprovider", "-q", SUITE], {
      cwd: SUITE,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        PYTHONPATH: join(ROOT, "clients", "python"),
        PYTHONDONTWRITEBYTECODE: "1",
        SECRETGATE_TEST_ADDR: server.grpcAddress,
        SECRETGATE_TEST_TOKEN: proxyToken,
        SECRETGATE_TEST_PLAIN_TOKEN: plainToken,
        SECRETGATE_TEST_LIMITED_TOKEN: limitedToken,
        SECRETGATE_TEST_ADMIN_TOKEN: server.token!,
        VAULT_TEST_ADDR: bed.emulator.endpoint,
        VAULT_TEST_TOKEN: bed.emulator.rootToken,
      },
    });
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    // Anything besides "passed" in the summary (skipped, xfailed, …) fails the run.
    expect(result.stdout).toMatch(/^\d+ passed in [\d.]+s$/m);
  }, 120_000);
});
