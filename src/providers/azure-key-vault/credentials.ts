import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import type { TlsSettings } from "@azure/core-rest-pipeline";
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  type TokenCredential,
  WorkloadIdentityCredential,
} from "@azure/identity";
import type { Env } from "../../config/env.js";
import { AzureSettingsError } from "./settings.js";

export interface AzureCredentialChoice {
  credential: TokenCredential;
  /** Which flow was picked, for the start-up log (never a secret). */
  kind: "client-secret" | "workload-identity" | "client-certificate" | "managed-identity" | "default-chain";
}

/**
 * Picks the credential the way LiteLLM users configure it: client secret, then workload identity
 * (federated token file), then certificate, then a user-assigned managed identity (client id
 * alone), else the SDK's default chain. `AZURE_AUTHORITY_HOST` points every flow at another
 * Entra ID endpoint (sovereign clouds, or the emulator in tests).
 */
export function chooseCredential(env: Env, tlsOptions: TlsSettings | undefined): AzureCredentialChoice {
  const tenantId = env.AZURE_TENANT_ID;
  const clientId = env.AZURE_CLIENT_ID;
  const authorityHost = env.AZURE_AUTHORITY_HOST;
  const common = {
    ...(authorityHost ? { authorityHost } : {}),
    // MSAL validates an unknown authority through login.microsoftonline.com's instance discovery;
    // a loopback authority (the emulator) is trusted as configured and works offline.
    ...(authorityHost && isLoopbackUrl(authorityHost) ? { disableInstanceDiscovery: true } : {}),
    ...(tlsOptions ? { tlsOptions } : {}),
    retryOptions: { maxRetries: 2 },
  };
  const requireTenantAndClient = (flow: string, variable: string): { tenantId: string; clientId: string } => {
    if (!tenantId || !clientId) {
      throw new AzureSettingsError(
        `${variable} is set for Azure ${flow}, which also needs AZURE_TENANT_ID and AZURE_CLIENT_ID`,
      );
    }
    return { tenantId, clientId };
  };

  if (env.AZURE_CLIENT_SECRET) {
    const ids = requireTenantAndClient("client-secret authentication", "AZURE_CLIENT_SECRET");
    return {
      kind: "client-secret",
      credential: new ClientSecretCredential(ids.tenantId, ids.clientId, env.AZURE_CLIENT_SECRET, common),
    };
  }
  if (env.AZURE_FEDERATED_TOKEN_FILE) {
    const ids = requireTenantAndClient("workload identity", "AZURE_FEDERATED_TOKEN_FILE");
    return {
      kind: "workload-identity",
      credential: new WorkloadIdentityCredential({ ...common, ...ids, tokenFilePath: env.AZURE_FEDERATED_TOKEN_FILE }),
    };
  }
  if (env.AZURE_CERTIFICATE_PATH) {
    const ids = requireTenantAndClient("certificate authentication", "AZURE_CERTIFICATE_PATH");
    const certificate = {
      certificatePath: env.AZURE_CERTIFICATE_PATH,
      ...(env.AZURE_CERTIFICATE_PASSWORD ? { certificatePassword: env.AZURE_CERTIFICATE_PASSWORD } : {}),
    };
    return {
      kind: "client-certificate",
      credential: new ClientCertificateCredential(ids.tenantId, ids.clientId, certificate, common),
    };
  }
  if (clientId) {
    return { kind: "managed-identity", credential: new ManagedIdentityCredential({ ...common, clientId }) };
  }
  return { kind: "default-chain", credential: new DefaultAzureCredential(common) };
}

/**
 * Node reads NODE_EXTRA_CA_CERTS once at process start; the SDK pipelines get the same trust
 * explicitly (public roots plus that file), so a driver built later in the process, with an
 * environment passed in, verifies a private CA such as the emulator's the same way.
 */
export function tlsOptionsFromEnv(env: Env): TlsSettings | undefined {
  const file = env.NODE_EXTRA_CA_CERTS;
  if (!file) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (error) {
    throw new AzureSettingsError(
      `NODE_EXTRA_CA_CERTS names ${JSON.stringify(file)}, which cannot be read: ${(error as Error).message}`,
    );
  }
  return { ca: [...rootCertificates, pem] };
}

function isLoopbackUrl(value: string): boolean {
  try {
    const { hostname } = new URL(value);
    return hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
  } catch {
    return false;
  }
}
