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
