import type { Env } from "../../config/env.js";

/**
 * A `key_management_settings` key, else its LiteLLM environment variable, with the name of
 * whichever supplied it so a start-up error points at the right place.
 */
export function settingOrEnv(
  settings: Readonly<Record<string, unknown>>,
  key: string,
  env: Env,
  variable: string,
): { value: string | undefined; source: string } {
  const configured = settings[key];
  if (typeof configured === "string")
    return { value: configured, source: `general_settings.key_management_settings.${key}` };
  const value = env[variable];
  return { value: value === "" ? undefined : value, source: variable };
}
