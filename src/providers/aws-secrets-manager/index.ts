import type { DriverDefinition } from "../../drivers/driver.js";
import { AWS_CREDENTIAL_ENVIRONMENT, AWS_LOCATION_KEYS } from "../aws-common/aws-settings.js";
import { SYSTEM, secretsManagerSettings, secretsManagerTeamSettings } from "./settings.js";

/** `aws_secret_manager`: AWS Secrets Manager, through @aws-sdk/client-secrets-manager. */
export const definition: DriverDefinition = {
  name: SYSTEM,
  capabilities: {
    write: true,
    binary: true,
    list: true,
    metadata: { description: true, tags: true, writesReplace: false },
    sdkRetries: true,
  },
  settings: secretsManagerSettings,
  teamSettings: secretsManagerTeamSettings,
  sensitiveTeamKeys: ["aws_external_id"],
  teamLocationKeys: AWS_LOCATION_KEYS,
  credentialEnvironment: AWS_CREDENTIAL_ENVIRONMENT,
  load: () => import("./driver.js"),
};
