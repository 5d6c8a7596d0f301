import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type LoginRole,
  signJwt,
  VaultEmulator,
  type VaultEmulatorConfig,
} from "../emulators/hashicorp-vault/index.js";

export const AUTH_METHODS = ["token", "approle", "cert", "kubernetes", "jwt"] as const;
export type AuthMethodName = (typeof AUTH_METHODS)[number];

/** A policy for what secretgate needs on the default mount (docs/backends/hashicorp-vault.md): KV v2 data, metadata (listing included) and destroy. */
export const SECRETGATE_POLICY = [
  { path: "secret/data/*", capabilities: ["create", "read", "update", "delete"] },
  { path: "secret/metadata/*", capabilities: ["read", "delete", "list"] },
  { path: "secret/destroy/*", capabilities: ["update"] },
] as const;

export interface VaultTestBed {
  emulator: VaultEmulator;
  /** The HCP_VAULT_* environment that makes secretgate log in with `method`. */
  env(method: AuthMethodName, extra?: Record<string, string>): Record<string, string>;
  approle: { roleId: string; secretId: string };
  /** Writes a freshly signed JWT (Kubernetes or OIDC) to the file the env points at. */
  refreshJwts(): void;
  close(): Promise<void>;
}

/**
 * An emulator with one role per auth method, all granted `policies` (the SECRETGATE_POLICY by
 * default), JWTs signed with a key only this test bed holds, and files for the driver to read.
 */
export async function startVaultTestBed(
  options: { config?: VaultEmulatorConfig; policies?: string[]; role?: Partial<LoginRole> } = {},
): Promise<VaultTestBed> {
  const emulator = await VaultEmulator.start();
  const dir = mkdtempSync(join(tmpdir(), "vault-testbed-"));
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const privateKeyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const approle = { roleId: randomUUID(), secretId: randomUUID() };
  const policies = options.policies ?? ["secretgate"];
  const role = { policies, ...options.role };
  emulator.configure({
    policies: {
      secretgate: SECRETGATE_POLICY.map((rule) => ({ path: rule.path, capabilities: [...rule.capabilities] })),
    },
    roles: [
      { method: "approle", name: "secretgate", ...approle, ...role },
      { method: "cert", name: "secretgate", ...role },
      {
        method: "kubernetes",
        name: "secretgate",
        publicKeyPem,
        boundServiceAccountNames: ["secretgate"],
        boundServiceAccountNamespaces: ["llm"],
        ...role,
      },
      { method: "jwt", name: "secretgate", publicKeyPem, boundAudiences: ["vault"], ...role },
    ],
  });
  if (options.config) emulator.configure(options.config);

  const kubernetesJwtFile = join(dir, "k8s-token");
  const jwtFile = join(dir, "oidc-token");
  const refreshJwts = () => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    writeFileSync(
      kubernetesJwtFile,
      signJwt({ iss: "kubernetes/serviceaccount", sub: "system:serviceaccount:llm:secretgate", exp }, privateKeyPem),
    );
    writeFileSync(
      jwtFile,
      signJwt({ iss: "https://issuer.example", sub: "secretgate", aud: "vault", exp }, privateKeyPem),
    );
  };
  refreshJwts();
  const staticToken = emulator.tokens.issue(
    { method: "approle", name: "static", policies, ttlSeconds: 86_400 },
    "",
    "token",
  ).id;

  const env = (method: AuthMethodName, extra: Record<string, string> = {}): Record<string, string> => {
    const base = { HCP_VAULT_ADDR: emulator.endpoint };
    const byMethod: Record<AuthMethodName, Record<string, string>> = {
      token: { ...base, HCP_VAULT_TOKEN: staticToken },
      approle: { ...base, HCP_VAULT_APPROLE_ROLE_ID: approle.roleId, HCP_VAULT_APPROLE_SECRET_ID: approle.secretId },
      cert: {
        HCP_VAULT_ADDR: emulator.tlsEndpoint,
        HCP_VAULT_CACERT: emulator.certificates.caFile,
        HCP_VAULT_CLIENT_CERT: emulator.certificates.clientCertFile,
        HCP_VAULT_CLIENT_KEY: emulator.certificates.clientKeyFile,
        HCP_VAULT_CERT_ROLE: "secretgate",
      },
      kubernetes: { ...base, HCP_VAULT_K8S_ROLE: "secretgate", HCP_VAULT_K8S_JWT_PATH: kubernetesJwtFile },
      jwt: { ...base, HCP_VAULT_JWT_ROLE: "secretgate", HCP_VAULT_JWT_PATH: jwtFile },
    };
    return { ...byMethod[method], ...extra };
  };

  return {
    emulator,
    env,
    approle,
    refreshJwts,
    close: async () => {
      await emulator.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
