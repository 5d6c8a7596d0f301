import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../../../src/config/config-error.js";
import type { BackendConfig, Config } from "../../../src/config/schema.js";
import { parseConfig } from "../../helpers/config.js";
import { ROOT } from "../../helpers/server.js";

/** The back end calls go to when nothing else places them (the only one, for a LiteLLM file). */
const defaultOf = (config: Config): BackendConfig =>
  config.backends.find((backend) => backend.name === config.defaultBackend)!;

describe("parseConfig", () => {
  it("starts on the embedded default with no file at all", async () => {
    const config = await parseConfig({}, {});
    expect(config.backends.map((backend) => backend.name)).toEqual(["local"]);
    expect(defaultOf(config).system).toBe("local");
    expect(defaultOf(config).accessMode).toBe("read_and_write");
    expect(config.server).toMatchObject({
      grpc_address: "127.0.0.1:50051",
      http_address: "127.0.0.1:8080",
      data_dir: "./data",
    });
    expect(defaultOf(config).settings.prefix_for_stored_virtual_keys).toBe("litellm/");
  });

  it("adds the trailing slash LiteLLM adds to the virtual-key prefix", async () => {
    const config = await parseConfig(
      { general_settings: { key_management_settings: { prefix_for_stored_virtual_keys: "keys" } } },
      {},
    );
    expect(defaultOf(config).settings.prefix_for_stored_virtual_keys).toBe("keys/");
  });

  it("replaces os.environ/ references in the parts it reads, and leaves the rest of a LiteLLM file alone", async () => {
    const config = await parseConfig(
      {
        model_list: [{ litellm_params: { api_key: "os.environ/NOT_SET_HERE" } }],
        general_settings: {
          master_key: "os.environ/ALSO_NOT_SET",
          key_management_settings: { description: "os.environ/DESC" },
        },
        secretgate: { data_dir: "os.environ/DIR" },
      },
      { DESC: "from env", DIR: "/var/lib/secretgate" },
    );
    expect(defaultOf(config).settings.description).toBe("from env");
    expect(config.server.data_dir).toBe("/var/lib/secretgate");
  });

  it("never serves the variables its os.environ/ references read, and serves none of its environment by default", async () => {
    const config = await parseConfig(
      {
        model_list: [{ litellm_params: { api_key: "os.environ/OPENAI_API_KEY" } }],
        general_settings: { key_management_settings: { description: "os.environ/DESC" } },
        secretgate: {
          auth: { tokens: [{ name: "team-a", token: "os.environ/TEAM_A_TOKEN" }] },
          environment: { serve: ["*"] },
        },
      },
      { DESC: "from env", TEAM_A_TOKEN: "team-a-token-0123456789", OPENAI_API_KEY: "sk-provider" },
    );
    expect(config.servedEnvironment.serves("TEAM_A_TOKEN")).toBe(false);
    expect(config.servedEnvironment.serves("DESC")).toBe(false);
    // A shared LiteLLM file's provider keys are what callers ask for, not the service's own.
    expect(config.servedEnvironment.serves("OPENAI_API_KEY")).toBe(true);
    expect((await parseConfig({}, {})).servedEnvironment.serves("OPENAI_API_KEY")).toBe(false);
  });

  it("never serves the active back end's variables, even when a glob matches them", async () => {
    const config = await parseConfig(
      { general_settings: { key_management_system: "hashicorp_vault" }, secretgate: { environment: { serve: ["*"] } } },
      {},
    );
    expect(config.servedEnvironment.serves("HCP_VAULT_TOKEN")).toBe(false);
  });

  it.each([true, false])(
    "refuses the removed env_fallback (%s), naming secretgate.environment.serve",
    async (value) => {
      const attempt = parseConfig({ secretgate: { env_fallback: value } }, {});
      await expect(attempt).rejects.toThrow(ConfigError);
      await expect(parseConfig({ secretgate: { env_fallback: value } }, {})).rejects.toThrow(
        /secretgate\.env_fallback.*secretgate\.environment\.serve/,
      );
    },
  );

  it.each([
    [{ backend: { max_concurrent_calls: 8 } }, /secretgate\.backend was renamed.*secretgate\.resilience/],
    [
      { backends: { a: { backend: { max_concurrent_calls: 8 } } } },
      /secretgate\.backends\.a\.backend was renamed.*secretgate\.backends\.a\.resilience/,
    ],
  ])(
    "refuses the retry and breaker settings under their old key %j, naming the new one",
    async (secretgate, message) => {
      await expect(parseConfig({ secretgate }, {})).rejects.toThrow(ConfigError);
      await expect(parseConfig({ secretgate }, {})).rejects.toThrow(message);
    },
  );

  it("keeps os.environ/ in keys that list names (hosted_keys, rules, routes, serve): they name secrets, they are not references to resolve", async () => {
    const env = { OPENAI_API_KEY: "sk-must-not-become-a-name", TOKEN: "t".repeat(32) };
    const config = await parseConfig(
      {
        general_settings: {
          key_management_settings: {
            hosted_keys: ["os.environ/OPENAI_API_KEY"],
            primary_secret_name: "os.environ/OPENAI_API_KEY",
          },
        },
        secretgate: {
          auth: {
            tokens: [{ name: "proxy", token: "os.environ/TOKEN", rules: { read: ["os.environ/OPENAI_API_KEY"] } }],
          },
          routes: [{ names: ["os.environ/OPENAI_API_KEY"], backend: "local" }],
          environment: { serve: ["os.environ/OPENAI_API_KEY"] },
        },
      },
      env,
    );
    expect(defaultOf(config).settings.hosted_keys).toEqual(["os.environ/OPENAI_API_KEY"]);
    expect(defaultOf(config).settings.primary_secret_name).toBe("os.environ/OPENAI_API_KEY");
    expect(config.server.auth.tokens[0]!.token).toBe(env.TOKEN);
    expect(config.server.auth.tokens[0]!.rules.read).toEqual(["os.environ/OPENAI_API_KEY"]);
    expect(JSON.stringify(config.server)).not.toContain(env.OPENAI_API_KEY);
    expect(JSON.stringify(config.backends.map((backend) => backend.settings))).not.toContain(env.OPENAI_API_KEY);
  });

  it("names the key whose os.environ/ variable is missing", async () => {
    await expect(parseConfig({ secretgate: { data_dir: "os.environ/MISSING_DIR" } }, {})).rejects.toThrow(
      new ConfigError("secretgate.data_dir: refers to environment variable MISSING_DIR, which is not set"),
    );
  });

  it("lets SECRETGATE_* variables override the file", async () => {
    const config = await parseConfig(
      { secretgate: { grpc_address: "0.0.0.0:1", log_level: "warn" } },
      {
        SECRETGATE_GRPC_ADDR: "127.0.0.1:7000",
        SECRETGATE_LOG_LEVEL: "debug",
        SECRETGATE_DATA_DIR: "/tmp/x",
        SECRETGATE_HTTP_ADDR: "127.0.0.1:7001",
      },
    );
    expect(config.server).toMatchObject({
      grpc_address: "127.0.0.1:7000",
      http_address: "127.0.0.1:7001",
      log_level: "debug",
      data_dir: "/tmp/x",
    });
  });

  it.each([
    [
      { general_settings: { key_management_system: "vault" } },
      'general_settings.key_management_system: unknown value "vault"',
    ],
    [
      { general_settings: { key_management_settings: { access_mode: "rw" } } },
      "general_settings.key_management_settings.access_mode",
    ],
    [
      { general_settings: { key_management_settings: { hosted_key: ["A"] } } },
      'general_settings.key_management_settings: unknown key "hosted_key"',
    ],
    [
      { general_settings: { key_management_settings: { hosted_keys: "A" } } },
      "general_settings.key_management_settings.hosted_keys",
    ],
    [{ secretgate: { grpc_address: "nowhere" } }, "secretgate.grpc_address: must be host:port"],
    [{ secretgate: { max_value_bytes: -1 } }, "secretgate.max_value_bytes"],
    [{ secretgate: { colour: "blue" } }, 'secretgate: unknown key "colour"'],
    [{ secretgate: { environment: { serve: "*" } } }, "secretgate.environment.serve"],
    [{ secretgate: { environment: { serve: [""] } } }, "secretgate.environment.serve.0"],
    [{ secretgate: { environment: { fallback: true } } }, 'secretgate.environment: unknown key "fallback"'],
    [[], "the config file must be a YAML mapping"],
  ])("refuses %j naming the key", async (document, message) => {
    await expect(parseConfig(document, {})).rejects.toThrow(ConfigError);
    await expect(parseConfig(document, {})).rejects.toThrow(message);
  });

  it("defaults a configured manager to LiteLLM's read_only, loading only that back end", async () => {
    const config = await parseConfig({ general_settings: { key_management_system: "hashicorp_vault" } }, {});
    expect(defaultOf(config)).toMatchObject({
      name: "hashicorp_vault",
      system: "hashicorp_vault",
      accessMode: "read_only",
    });
  });

  it("bounds connections by default, and refuses limits that cannot work, naming the key", async () => {
    const config = await parseConfig({}, {});
    expect(config.server.limits).toEqual({
      header_timeout_ms: 10_000,
      idle_timeout_ms: 120_000,
      max_connections: 4096,
      max_connections_per_peer: 512,
      max_concurrent_streams: 256,
      body_timeout_ms: 30_000,
      max_arriving_body_bytes: 64 * 1024 * 1024,
    });
    for (const [limits, key] of [
      [{ header_timeout_ms: 0 }, "secretgate.limits.header_timeout_ms"],
      [{ idle_timeout_ms: 2 ** 31 }, "secretgate.limits.idle_timeout_ms"],
      [{ max_connections: -1 }, "secretgate.limits.max_connections"],
      [{ max_connections_per_peer: 0 }, "secretgate.limits.max_connections_per_peer"],
      [{ max_concurrent_streams: 1.5 }, "secretgate.limits.max_concurrent_streams"],
      [{ body_timeout_ms: 0 }, "secretgate.limits.body_timeout_ms"],
      [
        { max_arriving_body_bytes: 1024 },
        "secretgate.limits.max_arriving_body_bytes: 1024 is less than secretgate.max_message_bytes",
      ],
      [{ max_streams: 1 }, 'secretgate.limits: unknown key "max_streams"'],
    ] as const) {
      await expect(parseConfig({ secretgate: { limits } }, {})).rejects.toThrow(key);
    }
  });

  it("uses an explicit access_mode over the default", async () => {
    const config = await parseConfig(
      { general_settings: { key_management_settings: { access_mode: "write_only" } } },
      {},
    );
    expect(defaultOf(config).accessMode).toBe("write_only");
  });
});

describe("several back ends (secretgate.backends)", () => {
  const threeBackEnds = {
    secretgate: {
      backends: {
        "vault-eu": {
          key_management_system: "hashicorp_vault",
          key_management_settings: { access_mode: "read_and_write", prefix_for_stored_virtual_keys: "litellm" },
          env: {
            HCP_VAULT_ADDR: "https://vault.eu:8200",
            HCP_VAULT_TOKEN: "os.environ/VAULT_EU_TOKEN",
            HCP_VAULT_REFRESH_INTERVAL: 60,
          },
          cache: { negative_ttl_seconds: 1 },
        },
        "aws-us": {
          key_management_system: "aws_secret_manager",
          key_management_settings: { hosted_keys: ["OPENAI_API_KEY"] },
          env: { AWS_REGION_NAME: "us-east-1" },
        },
        local: {},
      },
      default_backend: "local",
      cache: { negative_ttl_seconds: 7, default_ttl_seconds: 60 },
      resilience: { max_concurrent_calls: 8 },
    },
  };

  it("configures each named back end with its system, settings, access mode, environment, cache and resilience", async () => {
    const config = await parseConfig(threeBackEnds, { VAULT_EU_TOKEN: "hvs.eu-token-0123456789" });
    expect(config.backends.map((backend) => [backend.name, backend.system, backend.accessMode, backend.at])).toEqual([
      ["vault-eu", "hashicorp_vault", "read_and_write", "secretgate.backends.vault-eu"],
      ["aws-us", "aws_secret_manager", "read_only", "secretgate.backends.aws-us"],
      ["local", "local", "read_and_write", "secretgate.backends.local"],
    ]);
    expect(config.defaultBackend).toBe("local");
    const [vault, aws, local] = config.backends;
    expect(vault!.settings.prefix_for_stored_virtual_keys).toBe("litellm/");
    expect(aws!.settings.hosted_keys).toEqual(["OPENAI_API_KEY"]);
    // os.environ/ references resolved; YAML numbers become the text a variable would hold.
    expect(vault!.env).toEqual({
      HCP_VAULT_ADDR: "https://vault.eu:8200",
      HCP_VAULT_TOKEN: "hvs.eu-token-0123456789",
      HCP_VAULT_REFRESH_INTERVAL: "60",
    });
    // A back end's own cache keys over the global ones; the rest are the global ones.
    expect(vault!.cache).toMatchObject({ negative_ttl_seconds: 1, default_ttl_seconds: 60 });
    expect(aws!.cache).toMatchObject({ negative_ttl_seconds: 7, default_ttl_seconds: 60 });
    expect(local!.resilience.max_concurrent_calls).toBe(8);
  });

  it("never serves a back end's env variables or what they reference, whatever their names", async () => {
    const config = await parseConfig(
      {
        secretgate: {
          environment: { serve: ["*"] },
          backends: { one: { env: { ODD_SETTING: "x", OTHER: "os.environ/ODD_REFERENCE" } } },
        },
      },
      { ODD_REFERENCE: "value-of-a-reference" },
    );
    expect(config.servedEnvironment.serves("ODD_SETTING")).toBe(false);
    expect(config.servedEnvironment.serves("OTHER")).toBe(false);
    expect(config.servedEnvironment.serves("ODD_REFERENCE")).toBe(false);
    expect(config.servedEnvironment.serves("OPENAI_API_KEY")).toBe(true);
  });

  it("keeps a LiteLLM general_settings back end, named after its system, next to the named ones, and makes it the default", async () => {
    const config = await parseConfig(
      {
        general_settings: { key_management_system: "hashicorp_vault" },
        secretgate: { backends: { "aws-us": { key_management_system: "aws_secret_manager" } } },
      },
      {},
    );
    expect(config.backends.map((backend) => [backend.name, backend.at])).toEqual([
      ["hashicorp_vault", "general_settings"],
      ["aws-us", "secretgate.backends.aws-us"],
    ]);
    expect(config.defaultBackend).toBe("hashicorp_vault");
    // General settings with only key_management_settings are the embedded store, named local.
    const local = await parseConfig(
      {
        general_settings: { key_management_settings: { access_mode: "read_only" } },
        secretgate: { backends: { two: { key_management_system: "cyberark" } } },
      },
      {},
    );
    expect(local.backends.map((backend) => backend.name)).toEqual(["local", "two"]);
    expect(local.backends[0]!.accessMode).toBe("read_only");
  });

  it("adds no general back end when general_settings configure none, and defaults to the only named one", async () => {
    const config = await parseConfig(
      {
        general_settings: { master_key: "sk-1234" },
        secretgate: { backends: { "vault-eu": { key_management_system: "hashicorp_vault" } } },
      },
      {},
    );
    expect(config.backends.map((backend) => backend.name)).toEqual(["vault-eu"]);
    expect(config.defaultBackend).toBe("vault-eu");
  });

  it.each([
    [
      { backends: { a: {}, b: { key_management_system: "cyberark" } } },
      "secretgate.default_backend: required with several back ends and none in general_settings",
    ],
    [
      { backends: { a: {} }, default_backend: "b" },
      'secretgate.default_backend: no back end is named "b" (configured: a)',
    ],
    [{ backends: { "9lives": {} } }, 'secretgate.backends: "9lives" is not a back-end name'],
    [{ backends: { "has space": {} } }, 'secretgate.backends: "has space" is not a back-end name'],
    [{ backends: { env: {} } }, 'secretgate.backends.env: "env" is reserved'],
    [
      { backends: { a: {}, b: {} }, default_backend: "a" },
      "secretgate.backends.b: the embedded store is already configured as a",
    ],
    [
      { backends: { a: { key_management_system: "vault" } } },
      'secretgate.backends.a.key_management_system: unknown value "vault"',
    ],
    [
      { backends: { a: { key_management_settings: { hosted_key: ["X"] } } } },
      'secretgate.backends.a.key_management_settings: unknown key "hosted_key"',
    ],
    [
      {
        backends: {
          a: { key_management_system: "aws_secret_manager", key_management_settings: { replica_regions: "eu-west-1" } },
        },
      },
      "secretgate.backends.a.key_management_settings.replica_regions",
    ],
    [
      { backends: { a: { env: { "NOT-A-NAME": "x" } } } },
      "secretgate.backends.a.env.NOT-A-NAME: not an environment variable name",
    ],
    [{ backends: { a: { env: { X: ["list"] } } } }, "secretgate.backends.a.env.X"],
    [{ backends: { a: { colour: "blue" } } }, 'secretgate.backends.a: unknown key "colour"'],
    [{ backends: { a: { cache: { ttl: 5 } } } }, 'secretgate.backends.a.cache: unknown key "ttl"'],
    [
      { backends: { a: { resilience: { max_concurrent_calls: 0 } } } },
      "secretgate.backends.a.resilience.max_concurrent_calls",
    ],
    [
      { backends: { a: {} }, routes: [{ backend: "b" }] },
      'secretgate.routes.0.backend: no back end is named "b" (configured: a)',
    ],
    [
      { backends: { a: {} }, routes: [{ backend: "a", fallback: ["c"] }] },
      'secretgate.routes.0.fallback.0: no back end is named "c"',
    ],
    [
      { backends: { a: {} }, routes: [{ backend: "a", fallback: ["a"] }] },
      "secretgate.routes.0.fallback.0: a is already in this route",
    ],
    [
      { backends: { a: {} }, routes: [{ backend: "a", mode: "dual_write" }] },
      "secretgate.routes.0.mode: mode dual_write needs at least one fallback",
    ],
    [{ backends: { a: {} }, routes: [{ backend: "a", mode: "mirror", fallback: [] }] }, "secretgate.routes.0.mode"],
    [
      { backends: { a: {} }, routes: [{ backend: "a", teams: ["bad team"] }] },
      "secretgate.routes.0.teams.0: must be a team id",
    ],
    [{ backends: { a: {} }, routes: [{ backend: "a", names: [] }] }, "secretgate.routes.0.names"],
    [
      {
        backends: { a: {}, b: { key_management_system: "hashicorp_vault" } },
        default_backend: "a",
        routes: [{ backend: "a", fallback: ["b"], mode: "dual_write" }],
      },
      "secretgate.routes.0.fallback.0: b is read_only (its access_mode), so it cannot take the writes mode dual_write sends it",
    ],
  ])("refuses %j naming the config path", async (secretgate, message) => {
    await expect(parseConfig({ secretgate }, {})).rejects.toThrow(ConfigError);
    await expect(parseConfig({ secretgate }, {})).rejects.toThrow(message);
  });

  it("names a back end's env key whose os.environ/ variable is missing", async () => {
    const document = {
      secretgate: {
        backends: {
          "vault-eu": {
            key_management_system: "hashicorp_vault",
            env: { HCP_VAULT_TOKEN: "os.environ/VAULT_EU_TOKEN" },
          },
        },
      },
    };
    await expect(parseConfig(document, {})).rejects.toThrow(
      new ConfigError(
        "secretgate.backends.vault-eu.env.HCP_VAULT_TOKEN: refers to environment variable VAULT_EU_TOKEN, which is not set",
      ),
    );
  });

  it("refuses a named back end that clashes with the general_settings one, naming both", async () => {
    const document = {
      general_settings: { key_management_system: "hashicorp_vault" },
      secretgate: { backends: { hashicorp_vault: { key_management_system: "hashicorp_vault" } } },
    };
    await expect(parseConfig(document, {})).rejects.toThrow(
      "secretgate.backends.hashicorp_vault: clashes with the back end general_settings.key_management_system configures, which is named after its system (hashicorp_vault)",
    );
  });

  it("takes the example of docs/several-backends.md as it is", async () => {
    const page = readFileSync(join(ROOT, "docs", "several-backends.md"), "utf8");
    const example = /```yaml\n([\s\S]*?)```/.exec(page)![1]!;
    const config = await parseConfig(parseYaml(example), {
      VAULT_EU_TOKEN: "hvs.example-token-0123",
      LITELLM_EU_TOKEN: "litellm-eu-token-0123456789",
    });
    expect(config.backends.map((backend) => `${backend.name}:${backend.system}`)).toEqual([
      "vault-eu:hashicorp_vault",
      "aws-us:aws_secret_manager",
      "aws-legacy:aws_secret_manager",
      "local:local",
    ]);
    expect(config.defaultBackend).toBe("local");
    expect(config.server.routes.map((route) => [route.backend, route.fallback, route.mode])).toEqual([
      ["aws-us", ["vault-eu"], undefined],
      ["vault-eu", ["aws-legacy"], "dual_write"],
      ["vault-eu", [], undefined],
      ["aws-us", [], undefined],
    ]);
  });
});
