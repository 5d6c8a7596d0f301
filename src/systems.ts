import type { DriverDefinition } from "./drivers/driver.js";
import { definition as awsKms } from "./providers/aws-kms/index.js";
import { definition as awsSecretsManager } from "./providers/aws-secrets-manager/index.js";
import { definition as azureKeyVault } from "./providers/azure-key-vault/index.js";
import { definition as cyberark } from "./providers/cyberark/index.js";
import { definition as googleKms } from "./providers/google-kms/index.js";
import { definition as googleSecretManager } from "./providers/google-secret-manager/index.js";
import { definition as hashicorpVault } from "./providers/hashicorp-vault/index.js";
import { definition as local } from "./providers/local/index.js";

/**
 * Every `key_management_system` the service knows, one line each (adding a back end:
 * docs/development.md). A definition holds schemas and declarations only; its driver, and the SDK
 * with it, is loaded when a configured back end needs it (DriverDefinition.load): importing every
 * SDK at start-up cost ~0.6 s and ~70 MB of memory that a process serving one back end never uses.
 */
export const SYSTEMS: readonly DriverDefinition[] = [
  local,
  awsSecretsManager,
  awsKms,
  azureKeyVault,
  googleSecretManager,
  googleKms,
  hashicorpVault,
  cyberark,
];
