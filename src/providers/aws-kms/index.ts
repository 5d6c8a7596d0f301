import type { DriverDefinition } from "../../drivers/driver.js";
import { AWS_CREDENTIAL_ENVIRONMENT } from "../aws-common/aws-settings.js";
import { bulkNames } from "./kms-environment.js";
import { kmsSettings, kmsTeamSettings, SYSTEM } from "./settings.js";

/** `aws_kms`: values held in the environment as AWS KMS ciphertext, decrypted through @aws-sdk/client-kms. */
export const definition: DriverDefinition = {
  name: SYSTEM,
  // Decrypts only; lists the names LiteLLM's bulk forms hold.
  capabilities: { write: false, binary: false, list: true, sdkRetries: true },
  settings: kmsSettings,
  teamSettings: kmsTeamSettings,
  credentialEnvironment: AWS_CREDENTIAL_ENVIRONMENT,
  hostedWhateverHostedKeys: bulkNames,
  encryptor: { kms: "aws", load: async () => (await import("./encryptor.js")).encryptWithAwsKms },
  load: () => import("./driver.js"),
};
