import { TestServer } from "../test/helpers/server.js";
import { startVaultTestBed } from "../test/helpers/vault-test-bed.js";

/**
 * 1,000 concurrent cold reads of one name through secretgate, against the Vault emulator with
 * 50 ms added to every call: singleflight should turn them into one back-end read. The server
 * runs with `nodeArgs`, the launchers' node options, and their allocator's environment.
 */
export async function coldReadBenchmark(
  nodeArgs: string[],
  launchEnv: Record<string, string> = {},
): Promise<{ backend: string; backendCalls: number; reads: number; allFound: boolean; wallMs: number }> {
  const bed = await startVaultTestBed();
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${bed.emulator.endpoint}/_emulator/${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
    }).then((response) => response.json() as Promise<Record<string, number>>);
  const server = await TestServer.start({
    nodeArgs,
    config: {
      general_settings: {
        key_management_system: "hashicorp_vault",
        key_management_settings: { access_mode: "read_and_write" },
      },
    },
    env: { ...launchEnv, ...bed.env("token"), SECRETGATE_LOG_LEVEL: "info" },
  });
  try {
    // Written straight into Vault, so secretgate's cache has never seen it.
    await fetch(`${bed.emulator.endpoint}/v1/secret/data/COLD_NAME`, {
      method: "POST",
      headers: { "x-vault-token": bed.emulator.rootToken, "content-type": "application/json" },
      body: JSON.stringify({ data: { key: "sk-cold-value-for-the-benchmark" } }),
    });
    await admin("PUT", "faults", { rules: [{ kind: "latency", latencyMs: 50 }] });
    await admin("POST", "calls/reset");
    const reads = 1000;
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: reads }, () => server.grpc.read({ names: ["COLD_NAME"] })));
    const wallMs = performance.now() - started;
    const calls = await admin("GET", "calls");
    return {
      backend: "hashicorp_vault emulator, 50 ms latency per call",
      backendCalls: calls["kv-read"] ?? 0,
      reads,
      allFound: results.every((response) => response.results[0]?.found === true),
      wallMs,
    };
  } finally {
    await server.stop();
    await bed.close();
  }
}
