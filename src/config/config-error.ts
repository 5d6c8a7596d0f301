/**
 * A configuration problem; the message names the offending key or variable. Start-up fails with
 * it (exit 2). In its own module so drivers can throw it without importing the config loader,
 * which imports the driver registry.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * The URL a setting holds, e.g. a back end's address from the environment. Anything that is not
 * a URL, or not one of `protocols`, is a ConfigError naming `variable`.
 */
export function urlSetting(
  variable: string,
  value: string,
  protocols: readonly string[],
  protocolMessage: string,
): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${variable} ${JSON.stringify(value)} is not a URL`);
  }
  if (!protocols.includes(url.protocol)) throw new ConfigError(`${variable} ${protocolMessage}`);
  return url;
}
