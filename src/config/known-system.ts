import type { z } from "zod";

/**
 * The variables of the process environment a back end reads for its own credentials, endpoints and
 * settings. None of them is ever served by Read (config/served-environment.ts), and a back end never
 * looks its own `names` up in itself.
 */
export interface CredentialEnvironment {
  /** Single variables, as LiteLLM's users name them (`HCP_VAULT_TOKEN`, `AWS_ACCESS_KEY_ID`, …). */
  names: readonly string[];
  /**
   * Whole families its SDK and credential chain read (`AWS_`, `AZURE_`, `CLOUDSDK_`, …), by prefix,
   * so a variable an SDK adds next year is covered too.
   */
  families: readonly string[];
}

/**
 * What the configuration needs to know of one `key_management_system`: its name, the
 * `key_management_settings` keys it adds, and the environment it reads. Each back end's
 * DriverDefinition (drivers/driver.ts) is one; the wiring hands the list (src/systems.ts) to
 * `loadConfig`, so config/ never imports the back ends.
 */
export interface KnownSystem {
  /** The `key_management_system` value. */
  readonly name: string;
  /** Extra `key_management_settings` keys this back end accepts beyond the common ones. */
  readonly settings?: z.ZodRawShape;
  readonly credentialEnvironment: CredentialEnvironment;
}
