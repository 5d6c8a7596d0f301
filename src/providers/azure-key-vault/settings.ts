import { z } from "zod";
import { ConfigError } from "../../config/config-error.js";
import type { KeyManagementSettings } from "../../config/key-management-settings.js";
import { allowedVaultHost, teamVaultUriProblem } from "./vault-hosts.js";

export const SYSTEM = "azure_key_vault";

/** A bad setting: a configuration error like any other (exit code 2, no stack trace); names the variable. */
export class AzureSettingsError extends ConfigError {
  override name = "AzureSettingsError";
}

/**
 * The environment variables LiteLLM users set for Azure (docs/backends/azure-key-vault.md), plus the SDK's own
 * authority host.
 */
export const AZURE_CREDENTIAL_ENV_NAMES = [
  "AZURE_KEY_VAULT_URI",
  "AZURE_CLIENT_ID",
  "AZURE_CLIENT_SECRET",
  "AZURE_TENANT_ID",
  "AZURE_FEDERATED_TOKEN_FILE",
  "AZURE_CERTIFICATE_PATH",
  "AZURE_CERTIFICATE_PASSWORD",
  "AZURE_AUTHORITY_HOST",
] as const;

/** `key_management_settings` keys this back end adds. */
export const azureKeyVaultSettings = {
  /** Vault hosts a team's `vault_uri` may name besides Microsoft's clouds (`host:port`, `*.suffix`). */
  allowed_vault_hosts: z.array(allowedVaultHost).optional(),
};

/** What a team may set for Azure Key Vault; `vault_uri` may name `allowedHosts` besides Microsoft's clouds. */
export function teamSettingsAllowing(allowedHosts: readonly string[]) {
  return z.strictObject({
    vault_uri: z
      .string()
      .superRefine((value, context) => {
        const problem = teamVaultUriProblem(value, allowedHosts);
        if (problem) context.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    prefix: z.string().optional(),
    tags: z.record(z.string(), z.string()).optional(),
  });
}

/** What a team may set, as the operator's `allowed_vault_hosts` shape it. */
export function azureTeamSettingsFor(settings: KeyManagementSettings) {
  return teamSettingsAllowing((settings.allowed_vault_hosts as string[] | undefined) ?? []);
}
