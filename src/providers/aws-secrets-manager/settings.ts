import { z } from "zod";
import { awsConnectionSettings, awsLocationSettings, awsRegion } from "../aws-common/aws-settings.js";

export const SYSTEM = "aws_secret_manager";
/** The recovery window of a Delete without `force` (AWS's minimum is 7 days, its default 30). */
export const RECOVERY_WINDOW_DAYS = 7;

const tags = z.record(z.string(), z.string());

/** `key_management_settings` keys this back end adds (docs/backends/aws-secrets-manager.md). */
export const secretsManagerSettings = {
  ...awsConnectionSettings,
  kms_key_id: z.string().min(1).optional(),
  replica_regions: z.array(awsRegion).optional(),
};

/**
 * Team keys (docs/configuration.md, "Team settings"): location (region/role) for the driver;
 * prefix/description/tags for the core.
 */
export const secretsManagerTeamSettings = z.strictObject({
  ...awsLocationSettings,
  prefix: z.string().optional(),
  description: z.string().optional(),
  tags: tags.optional(),
  kms_key_id: z.string().min(1).optional(),
});
