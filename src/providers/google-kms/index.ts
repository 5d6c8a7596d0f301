import type { DriverDefinition } from "../../drivers/driver.js";
import { googleCredentialEnvironment } from "../google-common/environment.js";
import { kmsSettings, kmsTeamSettings, SYSTEM } from "./settings.js";

/** `google_kms`: values held in the environment as Cloud KMS ciphertext, decrypted through @google-cloud/kms. */
export const definition: DriverDefinition = {
  name: SYSTEM,
  // Decrypts only: nothing is stored, so there is nothing to list.
  capabilities: { write: false, binary: false, list: false, sdkRetries: true },
  settings: kmsSettings,
  teamSettings: kmsTeamSettings,
  credentialEnvironment: googleCredentialEnvironment({
    names: ["GOOGLE_KMS_RESOURCE_NAME", "GOOGLE_KMS_ENDPOINT"],
    family: "GOOGLE_KMS_",
  }),
  encryptor: { kms: "google", load: async () => (await import("./encryptor.js")).encryptWithGoogleKms },
  load: () => import("./driver.js"),
};
