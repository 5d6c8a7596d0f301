import { pino } from "pino";
import { definition as cyberark } from "../../src/providers/cyberark/index.js";
import type { SecretDatabase } from "../../src/storage/database.js";
import { type ConjurEmulator, startEmulator } from "../emulators/cyberark/index.js";
import { createDriver } from "../helpers/create-driver.js";
import { runDriverConformance } from "./driver-suite.js";

let emulator: ConjurEmulator | undefined;

// Conjur's REST API over HTTPS verified against the emulator's CA: authn with an API key,
// policy loads declaring variables in the `secretgate` branch, versioned values, and a resource
// list capped at LIST_MAX per answer (as CONJUR_API_RESOURCE_LIST_LIMIT_MAX does), so listing pages.
const LIST_MAX = 10;

runDriverConformance("cyberark", {
  capabilities: cyberark.capabilities,
  makeDriver: async () => {
    emulator = await startEmulator({ host: "127.0.0.1", port: 0, tls: true, resourceListLimitMax: LIST_MAX });
    const login = emulator.logins[0]!;
    return createDriver(cyberark, {
      env: {
        CYBERARK_API_BASE: emulator.endpoint,
        CYBERARK_ACCOUNT: login.account,
        CYBERARK_USERNAME: login.login,
        CYBERARK_API_KEY: login.apiKey,
        NODE_EXTRA_CA_CERTS: emulator.caFile!,
      },
      ciphertextEnv: {},
      settings: { store_virtual_keys: true, prefix_for_stored_virtual_keys: "litellm/", policy_branch: "secretgate" },
      database: undefined as unknown as SecretDatabase,
      logger: pino({ level: "silent" }),
    });
  },
  close: async () => {
    await emulator?.close();
  },
  unicodeNames: true,
  // The variable and its values leave policy; nothing is left to restore.
  recoverableDelete: false,
  slashNames: true,
  lists: true,
  listPageSize: LIST_MAX,
  otherTeam: { policy_branch: "team-b" },
  // No metadata: the driver declares variables without annotations, so there is nothing to describe.
});
