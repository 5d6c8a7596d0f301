import { TestServer } from "./server.js";
import { SECRETGATE_POLICY, startVaultTestBed, type VaultTestBed } from "./vault-test-bed.js";

/**
 * What the console and its RPCs are tested against: a server on the embedded store (the default)
 * and Vault's emulator (whose policy also reaches the `team-ns` namespace), with an admin token and
 * a reader whose token is `readerToken`, confined to `OPENAI_*` on the embedded store.
 */
export async function startOperatorBed(readerToken: string): Promise<{ vault: VaultTestBed; server: TestServer }> {
  const vault = await startVaultTestBed({
    config: {
      namespaces: ["team-ns"],
      policies: {
        secretgate: [
          ...SECRETGATE_POLICY.map((rule) => ({ path: rule.path, capabilities: [...rule.capabilities] })),
          { path: "team-ns/secret/data/*", capabilities: ["create", "read", "update", "delete"] },
        ],
      },
    },
  });
  const server = await TestServer.start({
    config: {
      secretgate: {
        backends: {
          local: { key_management_settings: { access_mode: "read_and_write" } },
          vault: {
            key_management_system: "hashicorp_vault",
            key_management_settings: { access_mode: "read_and_write" },
            env: vault.env("token"),
          },
        },
        default_backend: "local",
        auth: {
          tokens: [
            { name: "reader", token: "os.environ/READER_TOKEN", rules: { read: ["OPENAI_*"], backends: ["local"] } },
          ],
        },
      },
    },
    env: { READER_TOKEN: readerToken },
  });
  return { vault, server };
}
