import type { DriverDefinition } from "../../drivers/driver.js";
import { localTeamSettings } from "./settings.js";

/** `local`, the embedded store: what runs when no key_management_system is set. */
export const definition: DriverDefinition = {
  name: "local",
  capabilities: {
    write: true,
    binary: true,
    list: true,
    metadata: { description: true, tags: true, writesReplace: true },
    versionRemoval: "destroy",
  },
  teamSettings: localTeamSettings,
  // It reads nothing of the environment: its database and master key are the service's own.
  credentialEnvironment: { names: [], families: [] },
  load: () => import("./driver.js"),
};
