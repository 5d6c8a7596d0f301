import type { CredentialEnvironment } from "../../config/known-system.js";

/**
 * What Google's client libraries and credential chain read of the environment, for both Google back
 * ends: the service account file LiteLLM users name, application default credentials, and the
 * families of project, quota-project and universe settings, gcloud's (CLOUDSDK_AUTH_ACCESS_TOKEN
 * among them) and the metadata server's.
 */
export function googleCredentialEnvironment(own: { names: readonly string[]; family: string }): CredentialEnvironment {
  return {
    names: [...own.names, "GCS_PATH_SERVICE_ACCOUNT", "GOOGLE_APPLICATION_CREDENTIALS"],
    families: [own.family, "GOOGLE_CLOUD_", "GCLOUD_", "GCE_METADATA_", "CLOUDSDK_"],
  };
}
