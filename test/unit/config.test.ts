import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/load.js";

describe("parseConfig", () => {
  it("starts on the embedded default with no file at all", async () => {
    const config = await parseConfig({}, {});
    expect(config.keyManagementSystem).toBe("local");
    expect(config.accessMode).toBe("read_and_write");
    expect(config.server).toMatchObject({ grpc_address: "127.0.0.1:50051", http_address: "127.0.0.1:8080", data_dir: "./data" });
    expect(config.keyManagementSettings.prefix_for_stored_virtual_keys).toBe("litellm/");
  });

  it("adds the trailing slash LiteLLM adds to the virtual-key prefix", async () => {
    const config = await parseConfig({ general_settings: { key_management_settings: { prefix_for_stored_virtual_keys: "keys" } } }, {});
    expect(config.keyManagementSettings.prefix_for_stored_virtual_keys).toBe("keys/");
  });

  it("replaces os.environ/ references in the parts it reads, and leaves the rest of a LiteLLM file alone", async () => {
    const config = await parseConfig(
      {
        model_list: [{ litellm_params: { api_key: "os.environ/NOT_SET_HERE" } }],
        general_settings: { master_key: "os.environ/ALSO_NOT_SET", key_management_settings: { description: "os.environ/DESC" } },
        secretgate: { data_dir: "os.environ/DIR" },
      },
      { DESC: "from env", DIR: "/var/lib/secretgate" },
    );
    expect(config.keyManagementSettings.description).toBe("from env");
    expect(config.server.data_dir).toBe("/var/lib/secretgate");
  });

  it("never serves the variables its os.environ/ references read, and serves none of its environment by default", async () => {
    const config = await parseConfig(
      {
        model_list: [{ litellm_params: { api_key: "os.environ/OPENAI_API_KEY" } }],
        general_settings: { key_management_settings: { description: "os.environ/DESC" } },
        secretgate: { auth: { tokens: [{ name: "team-a", token: "os.environ/TEAM_A_TOKEN" }] }, environment: { serve: ["*"] } },
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
    const config = await parseConfig({ general_settings: { key_management_system: "hashicorp_vault" }, secretgate: { environment: { serve: ["*"] } } }, {});
    expect(config.servedEnvironment.serves("HCP_VAULT_TOKEN")).toBe(false);
  });

  it.each([true, false])("refuses the removed env_fallback (%s), naming secretgate.environment.serve", async (value) => {
    const attempt = parseConfig({ secretgate: { env_fallback: value } }, {});
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(parseConfig({ secretgate: { env_fallback: value } }, {})).rejects.toThrow(/secretgate\.env_fallback.*secretgate\.environment\.serve/);
  });

  it("names the key whose os.environ/ variable is missing", async () => {
    await expect(parseConfig({ secretgate: { data_dir: "os.environ/MISSING_DIR" } }, {})).rejects.toThrow(
      new ConfigError("secretgate.data_dir: refers to environment variable MISSING_DIR, which is not set"),
    );
  });

  it("lets SECRETGATE_* variables override the file", async () => {
    const config = await parseConfig(
      { secretgate: { grpc_address: "0.0.0.0:1", log_level: "warn" } },
      { SECRETGATE_GRPC_ADDR: "127.0.0.1:7000", SECRETGATE_LOG_LEVEL: "debug", SECRETGATE_DATA_DIR: "/tmp/x", SECRETGATE_HTTP_ADDR: "127.0.0.1:7001" },
    );
    expect(config.server).toMatchObject({ grpc_address: "127.0.0.1:7000", http_address: "127.0.0.1:7001", log_level: "debug", data_dir: "/tmp/x" });
  });

  it.each([
    [{ general_settings: { key_management_system: "vault" } }, "general_settings.key_management_system: unknown value \"vault\""],
    [{ general_settings: { key_management_settings: { access_mode: "rw" } } }, "general_settings.key_management_settings.access_mode"],
    [{ general_settings: { key_management_settings: { hosted_key: ["A"] } } }, 'general_settings.key_management_settings: unknown key "hosted_key"'],
    [{ general_settings: { key_management_settings: { hosted_keys: "A" } } }, "general_settings.key_management_settings.hosted_keys"],
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
    expect(config.keyManagementSystem).toBe("hashicorp_vault");
    expect(config.accessMode).toBe("read_only");
  });

  it("uses an explicit access_mode over the default", async () => {
    const config = await parseConfig({ general_settings: { key_management_settings: { access_mode: "write_only" } } }, {});
    expect(config.accessMode).toBe("write_only");
  });
});
