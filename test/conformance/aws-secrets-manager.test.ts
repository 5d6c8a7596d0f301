import { resolveAwsConnection } from "../../src/providers/aws-common/aws-settings.js";
import { SecretsManagerDriver } from "../../src/providers/aws-secrets-manager/driver.js";
import { definition as awsSecretsManager } from "../../src/providers/aws-secrets-manager/index.js";
import { type AwsEmulatorHandle, emulatorEnv, startEmulator } from "../emulators/aws-common/endpoint.js";
import { runDriverConformance } from "./driver-suite.js";

let emulator: AwsEmulatorHandle | undefined;

runDriverConformance("aws_secret_manager", {
  capabilities: awsSecretsManager.capabilities,
  makeDriver: async () => {
    emulator = await startEmulator();
    return new SecretsManagerDriver({
      connection: resolveAwsConnection({}, emulatorEnv(emulator.endpoint), "SECRETS_MANAGER"),
    });
  },
  close: async () => {
    await emulator?.close();
  },
  unicodeNames: false,
  // DeleteSecret keeps a 7-day recovery window; a write restores the secret (RestoreSecret).
  recoverableDelete: true,
  slashNames: true,
  rewriteAfterSoftDelete: true,
  // CreateSecret takes both; PutSecretValue (every later write) takes neither.
  metadata: { description: "keptFromCreation", tags: "keptFromCreation" },
});
