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

  it("bounds connections by default, and refuses limits that cannot work, naming the key", async () => {
    const config = await parseConfig({}, {});
    expect(config.server.limits).toEqual({ header_timeout_ms: 10_000, idle_timeout_ms: 120_000, max_connections: 4096, max_concurrent_streams: 256 });
    for (const [limits, key] of [
      [{ header_timeout_ms: 0 }, "secretgate.limits.header_timeout_ms"],
      [{ idle_timeout_ms: 2 ** 31 }, "secretgate.limits.idle_timeout_ms"],
      [{ max_connections: -1 }, "secretgate.limits.max_connections"],
      [{ max_concurrent_streams: 1.5 }, "secretgate.limits.max_concurrent_streams"],
      [{ max_streams: 1 }, 'secretgate.limits: unknown key "max_streams"'],
    ] as const) {
      await expect(parseConfig({ secretgate: { limits } }, {})).rejects.toThrow(key);
    }
  });

  it("uses an explicit access_mode over the default", async () => {
    const config = await parseConfig({ general_settings: { key_management_settings: { access_mode: "write_only" } } }, {});
    expect(config.accessMode).toBe("write_only");
  });
});
