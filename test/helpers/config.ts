import type { Env } from "../../src/config/env.js";
import { parseConfig as parseConfigOf } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import type { DriverDefinition } from "../../src/drivers/driver.js";
import { SYSTEMS } from "../../src/systems.js";

/** A config document validated as the server validates it, against every back end it knows (src/systems.ts). */
export function parseConfig(document: unknown, env: Env, source?: string): Promise<Config<DriverDefinition>> {
  return parseConfigOf(document, env, SYSTEMS, source);
}
