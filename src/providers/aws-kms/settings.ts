import { z } from "zod";
import { awsConnectionSettings } from "../aws-common/aws-settings.js";

export const SYSTEM = "aws_kms";

/** `key_management_settings` keys this back end adds. */
export const kmsSettings = {
  ...awsConnectionSettings,
  /** The encryption context the values were encrypted with; Decrypt fails unless it matches. */
  encryption_context: z.record(z.string(), z.string()).optional(),
  /** When set, Decrypt insists the ciphertext was made with this key. */
  kms_key_id: z.string().min(1).optional(),
};

/** Team keys (docs/configuration.md, "Team settings"): the key a team's values must be encrypted with. */
export const kmsTeamSettings = z.strictObject({ key_id: z.string().min(1).optional() });
