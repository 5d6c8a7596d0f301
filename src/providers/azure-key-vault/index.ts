import type { DriverDefinition } from "../../drivers/driver.js";
import {
  AZURE_CREDENTIAL_ENV_NAMES,
  azureKeyVaultSettings,
  azureTeamSettingsFor,
  SYSTEM,
  teamSettingsAllowing,
} from "./settings.js";

/** `azure_key_vault`: Azure Key Vault, through @azure/keyvault-secrets and @azure/identity. */
export const definition: DriverDefinition = {
  name: SYSTEM,
  capabilities: {
    write: true,
    binary: true,
    list: true,
    metadata: { description: false, tags: true, writesReplace: true },
    sdkRetries: true,
    versionRemoval: "disable",
  },
  settings: azureKeyVaultSettings,
  teamSettings: teamSettingsAllowing([]),
  teamSettingsFor: azureTeamSettingsFor,
  teamLocationKeys: ["vault_uri"],
  credentialEnvironment: {
    names: AZURE_CREDENTIAL_ENV_NAMES,
    // The SDK's credentials and settings; the managed identity endpoint and its secret header (App Service, Functions).
    families: ["AZURE_", "IDENTITY_", "MSI_", "IMDS_"],
  },
  load: () => import("./driver.js"),
};
