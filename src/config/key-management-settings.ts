import { z } from "zod";

export const ACCESS_MODES = ["read_only", "write_only", "read_and_write"] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

const tags = z.record(z.string(), z.string());

/**
 * `general_settings.key_management_settings` keys every back end shares (LiteLLM's names).
 * Back ends add their own keys (e.g. AWS's `kms_key_id`) through their driver definition.
 */
export const commonKeyManagementSettings = {
  store_virtual_keys: z.boolean().default(false),
  prefix_for_stored_virtual_keys: z
    .string()
    .default("litellm/")
    .transform((prefix) => (prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`)),
  access_mode: z.enum(ACCESS_MODES).optional(),
  hosted_keys: z.array(z.string().min(1)).optional(),
  primary_secret_name: z.string().min(1).optional(),
  description: z.string().optional(),
  tags: tags.optional(),
};

/**
 * LiteLLM's `key_management_settings` keys that set up the proxy as a whole (whether and under which
 * prefix it stores virtual keys, what it reads from the manager, its custom manager class): secretgate
 * takes them from its own configuration, so a team's settings holding one (an admin pasted the
 * proxy-wide block into a team's) are refused, naming it, rather than half applied.
 */
export const PROXY_WIDE_SETTING_NAMES: ReadonlySet<string> = new Set([
  "store_virtual_keys",
  "prefix_for_stored_virtual_keys",
  "access_mode",
  "hosted_keys",
  "primary_secret_name",
  "custom_secret_manager",
]);

export type KeyManagementSettings = {
  store_virtual_keys: boolean;
  prefix_for_stored_virtual_keys: string;
  access_mode?: AccessMode;
  hosted_keys?: string[];
  primary_secret_name?: string;
  description?: string;
  tags?: Record<string, string>;
  /** Back-end specific keys, validated by the driver's own schema. */
  [key: string]: unknown;
};
