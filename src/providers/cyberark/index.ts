import type { DriverDefinition } from "../../drivers/driver.js";
import { CYBERARK_ENV_NAMES, conjurSettings, conjurTeamSettings, refreshIntervalSeconds, SYSTEM } from "./settings.js";

/** `cyberark`: CyberArk Conjur, through its REST API (there is no official Node SDK). */
export const definition: DriverDefinition = {
  name: SYSTEM,
  capabilities: { write: true, binary: false, list: true },
  settings: conjurSettings,
  teamSettings: conjurTeamSettings,
  // LiteLLM's names (CYBERARK_*) and Conjur's own tools' (CONJUR_*).
  credentialEnvironment: { names: CYBERARK_ENV_NAMES, families: ["CYBERARK_", "CONJUR_"] },
  cachePolicy: ({ env }) => ({ ttlSeconds: refreshIntervalSeconds(env) }),
  load: () => import("./driver.js"),
};
