import { randomBytes } from "node:crypto";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { AdminService } from "../../gen/secretgate/v1/admin_service_pb.js";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";
import { stopServer, TestServer } from "./server.js";
import { SECRETGATE_POLICY, startVaultTestBed, type VaultTestBed } from "./vault-test-bed.js";

/**
 * The kinds of caller the access table (test/e2e/access-table.test.ts) and the findings of issue
 * 23 (test/e2e/access-findings.test.ts) call as. Each but `none` and `wrong` is a configured identity.
 */
export const CALLER_KINDS = [
  "none",
  "wrong",
  "reader",
  "writer",
  "teamAdmin",
  "backendAdmin",
  "proxy",
  "admin",
] as const;
export type CallerKind = (typeof CALLER_KINDS)[number];

/** Every namespace the Vault emulator serves besides the root one. */
const NAMESPACES = ["team-ns", "wo-ns"];

/**
 * One server for the access decision: the embedded store as the default back end (`local`, with
 * `hosted_keys` as in the README's config), Vault (`vault`) and a second Vault location whose
 * access mode is `write_only` (`vault-wo`); and the identities below. The team-bound admin may act
 * for `team-a` only, on every back end; the back-end-bound admin for every team, on `local` only;
 * the scoped admin for `team-a` on `local` (the TailAudit finding's). `teamProxy` is what the
 * scoped admin administers: a proxy for `team-a` on `local`.
 */
export interface AccessBed {
  server: TestServer;
  vault: VaultTestBed;
  tokens: Record<Exclude<CallerKind, "none" | "admin"> | "scopedAdmin" | "teamProxy", string>;
  /** The token a kind of caller sends (undefined: none). */
  tokenOf(kind: CallerKind | "scopedAdmin" | "teamProxy"): string | undefined;
  /** A client of SecretService as `kind`, on the gRPC port or the HTTP port (Connect, JSON). */
  secrets(kind: CallerKind | "scopedAdmin" | "teamProxy", port?: Port): Client<typeof SecretService>;
  /** A client of AdminService (the operator's RPCs) as `kind`. */
  admin(kind: CallerKind | "scopedAdmin" | "teamProxy", port?: Port): Client<typeof AdminService>;
  /** The value Vault holds at `path` (`<namespace>/<mount>/data/<name>`), or its HTTP status. */
  vaultGet(path: string): Promise<{ status: number; value?: string }>;
  close(): Promise<void>;
}

export type Port = "grpc" | "http";

const token = (name: string) => `${name}-${randomBytes(12).toString("hex")}`;

export async function startAccessBed(): Promise<AccessBed> {
  const everything = ["create", "read", "update", "delete", "list"] as const;
  const vault = await startVaultTestBed({
    config: {
      namespaces: NAMESPACES,
      policies: {
        secretgate: [
          ...SECRETGATE_POLICY.map((rule) => ({ path: rule.path, capabilities: [...rule.capabilities] })),
          ...NAMESPACES.flatMap((namespace) => [
            { path: `${namespace}/secret/data/*`, capabilities: [...everything] },
            { path: `${namespace}/secret/metadata/*`, capabilities: [...everything] },
          ]),
        ],
      },
    },
  });
  const tokens = {
    wrong: token("wrong"),
    reader: token("reader"),
    writer: token("writer"),
    teamAdmin: token("team-admin"),
    backendAdmin: token("backend-admin"),
    proxy: token("proxy"),
    scopedAdmin: token("scoped-admin"),
    teamProxy: token("team-proxy"),
  };
  const all = { read: ["*"], write: ["*"], delete: ["*"] };
  const vaultEnv = vault.env("token");
  const server = await TestServer.start({
    config: {
      secretgate: {
        backends: {
          local: {
            key_management_settings: {
              access_mode: "read_and_write",
              hosted_keys: ["OPENAI_API_KEY", "MIG_HOSTED", "KEPT_GLOBAL"],
              prefix_for_stored_virtual_keys: "litellm/",
            },
          },
          vault: {
            key_management_system: "hashicorp_vault",
            key_management_settings: { access_mode: "read_and_write" },
            env: vaultEnv,
          },
          "vault-wo": {
            key_management_system: "hashicorp_vault",
            key_management_settings: { access_mode: "write_only" },
            env: { ...vaultEnv, HCP_VAULT_SECRET_NAMESPACE: "wo-ns" },
          },
        },
        default_backend: "local",
        auth: {
          tokens: [
            { name: "reader", token: "os.environ/READER_TOKEN", rules: { read: ["*"] } },
            { name: "writer", token: "os.environ/WRITER_TOKEN", rules: all },
            {
              name: "team-admin",
              token: "os.environ/TEAM_ADMIN_TOKEN",
              rules: { ...all, teams: ["team-a"], admin: true },
            },
            {
              name: "backend-admin",
              token: "os.environ/BACKEND_ADMIN_TOKEN",
              rules: { ...all, teams: ["*"], admin: true, backends: ["local"] },
            },
            {
              name: "proxy",
              token: "os.environ/PROXY_TOKEN",
              rules: { ...all, teams: ["*"], inline_team_settings: true },
            },
            {
              name: "scoped-admin",
              token: "os.environ/SCOPED_ADMIN_TOKEN",
              rules: { ...all, teams: ["team-a"], admin: true, backends: ["local"] },
            },
            {
              name: "team-proxy",
              token: "os.environ/TEAM_PROXY_TOKEN",
              rules: { ...all, teams: ["team-a"], backends: ["local"] },
            },
          ],
        },
      },
    },
    env: {
      READER_TOKEN: tokens.reader,
      WRITER_TOKEN: tokens.writer,
      TEAM_ADMIN_TOKEN: tokens.teamAdmin,
      BACKEND_ADMIN_TOKEN: tokens.backendAdmin,
      PROXY_TOKEN: tokens.proxy,
      SCOPED_ADMIN_TOKEN: tokens.scopedAdmin,
      TEAM_PROXY_TOKEN: tokens.teamProxy,
    },
  });
  for (const value of Object.values(tokens)) server.sensitive.add(value);

  const tokenOf = (kind: CallerKind | "scopedAdmin" | "teamProxy"): string | undefined => {
    if (kind === "none") return undefined;
    if (kind === "admin") return server.token;
    return tokens[kind];
  };
  const transport = (kind: CallerKind | "scopedAdmin" | "teamProxy", port: Port) => {
    const sent = tokenOf(kind);
    const record: Interceptor = (next) => async (request) => {
      server.remember(request.message);
      const response = await next(request);
      if (!response.stream) server.remember(response.message);
      return response;
    };
    const withToken: Interceptor = (next) => (request) => {
      if (sent) request.header.set("authorization", `Bearer ${sent}`);
      return next(request);
    };
    const interceptors = [record, withToken];
    return port === "grpc"
      ? createGrpcTransport({ baseUrl: `http://${server.grpcAddress}`, interceptors })
      : createConnectTransport({
          baseUrl: `http://${server.httpAddress}`,
          httpVersion: "1.1",
          useBinaryFormat: false,
          interceptors,
        });
  };
  return {
    server,
    vault,
    tokens,
    tokenOf,
    secrets: (kind, port = "grpc") => createClient(SecretService, transport(kind, port)),
    admin: (kind, port = "grpc") => createClient(AdminService, transport(kind, port)),
    vaultGet: async (path) => {
      const response = await fetch(`${vault.emulator.endpoint}/v1/${path}`, {
        headers: { "x-vault-token": vault.emulator.rootToken },
      });
      if (response.status !== 200) return { status: response.status };
      const body = (await response.json()) as { data: { data: Record<string, string> } };
      return { status: 200, value: Object.values(body.data.data)[0] };
    },
    close: async () => {
      await stopServer(server);
      await vault.close();
    },
  };
}
