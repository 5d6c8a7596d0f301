/**
 * A configuration problem; the message names the offending key. Start-up fails with it. Kept apart
 * from load.ts so drivers can throw it without importing the loader (which imports the registry).
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
