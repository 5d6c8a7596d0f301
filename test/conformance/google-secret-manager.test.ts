import { SecretManagerDriver } from "../../src/providers/google-secret-manager/driver.js";
import { definition as googleSecretManager } from "../../src/providers/google-secret-manager/index.js";
import { resolveSecretManagerSettings } from "../../src/providers/google-secret-manager/settings.js";
import { type SecretManagerEmulator, startEmulator } from "../emulators/google-secret-manager/index.js";
import { runDriverConformance } from "./driver-suite.js";

// Both transports of the real SDK against the emulator: gRPC (the default) and the HTTP/1.1 JSON fallback.
for (const transport of ["grpc", "rest"] as const) {
  let emulator: SecretManagerEmulator | undefined;
  runDriverConformance(`google_secret_manager (${transport})`, {
    capabilities: googleSecretManager.capabilities,
    makeDriver: async () => {
      emulator = await startEmulator({ host: "127.0.0.1", port: 0 });
      const endpoint = transport === "grpc" ? emulator.endpoint : emulator.restEndpoint;
      return new SecretManagerDriver(
        resolveSecretManagerSettings(
          { store_virtual_keys: true, prefix_for_stored_virtual_keys: "" },
          {
            GOOGLE_SECRET_MANAGER_PROJECT_ID: "conformance-project",
            GOOGLE_SECRET_MANAGER_ENDPOINT: endpoint,
            GOOGLE_SECRET_MANAGER_TRANSPORT: transport,
          },
        ),
      );
    },
    close: async () => {
      await emulator?.close();
    },
    // Secret ids are 1–255 of A-Za-z0-9_-: other names are refused, never mapped (see names.ts).
    slashNames: false,
    unicodeNames: false,
    // DeleteSecret removes the secret and every version at once.
    recoverableDelete: false,
    // Labels and the description annotation are set by CreateSecret; later writes only add versions.
    metadata: { description: "keptFromCreation", tags: "keptFromCreation" },
    // DestroySecretVersion of version 1 with the etag the write got back.
    versionRemoval: "destroy",
  });
}
