import { compileGlob } from "../auth/identity.js";
import { ConfigError } from "./config-error.js";
import type { Env } from "./env.js";

/**
 * Families of variables that secretgate, its database client and the cloud SDKs it embeds read:
 * credentials, tokens, endpoints and settings. Whole families rather than lists of names, so a
 * variable an SDK adds next year is covered too.
 */
const PROTECTED_PREFIXES = [
  "SECRETGATE_", // secretgate's own settings, admin token and master key
  "PG", // PostgreSQL's client variables: PGPASSWORD, PGPASSFILE, PGHOST, PGSSLKEY, …
  "AWS_", // keys, session tokens, profiles, shared files, container and web-identity credentials, roles, endpoints
  "ECS_CONTAINER_METADATA_", // the ECS task metadata endpoint
  "AZURE_", // Azure SDK credentials and Key Vault settings
  "IDENTITY_", // Azure managed identity endpoint and its secret header (App Service, Functions)
  "MSI_",
  "IMDS_",
  "GOOGLE_SECRET_MANAGER_",
  "GOOGLE_KMS_",
  "GOOGLE_CLOUD_", // project, quota project, universe domain
  "GCLOUD_",
  "GCE_METADATA_", // the metadata server Google's credentials come from
  "CLOUDSDK_", // gcloud, including CLOUDSDK_AUTH_ACCESS_TOKEN
  "HCP_", // HashiCorp Vault as LiteLLM names it, and HCP's own credentials
  "VAULT_", // Vault as its own tools name it
  "CYBERARK_",
  "CONJUR_",
  "OTEL_", // OpenTelemetry exporters' headers carry collector credentials
  "NODE_", // node's options and CA files, NODE_AUTH_TOKEN
  "NPM_", // npm's settings and auth tokens: `npm start` exports npm_config_*
];

/** Single variables outside those families. */
const PROTECTED_NAMES = [
  "DATABASE_URL",
  "GOOGLE_APPLICATION_CREDENTIALS",
  "GCS_PATH_SERVICE_ACCOUNT",
  // Proxy URLs may hold credentials, and every SDK's traffic goes through them.
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "ALL_PROXY",
  "NO_PROXY",
];

const GLOB_CHARACTERS = /[*?]/;

export interface ServedEnvironmentOptions {
  /** `secretgate.environment.serve`: names or globs, matched as identity rules match names. */
  serve: readonly string[];
  /** The variables the config's `os.environ/` references read (callers' tokens among them). */
  configReferences: readonly string[];
  /** The back ends' own credential and endpoint variables (DriverDefinition.credentialEnvNames) and those their `env` sets. */
  backendVariables: readonly string[];
}

/**
 * Which variables of the service's own process environment a Read may answer with (SPEC §3.2).
 * None by default: that environment holds the service's credentials, not its callers'. The
 * operator lists names or globs in `secretgate.environment.serve`; the variables the service
 * itself uses are never served, whatever a glob matches. Variables are compared without case:
 * process.env is case-insensitive on Windows, and proxy agents read lowercase spellings.
 */
export class ServedEnvironment {
  private readonly patterns: readonly RegExp[];
  private readonly protectedNames: ReadonlySet<string>;

  constructor(options: ServedEnvironmentOptions) {
    this.protectedNames = new Set([...PROTECTED_NAMES, ...options.configReferences, ...options.backendVariables].map(fold));
    options.serve.forEach((entry, index) => {
      // A glob may cover protected names (they are skipped); a protected name listed on its own is a mistake to say out loud.
      if (!GLOB_CHARACTERS.test(entry) && this.isProtected(entry)) {
        throw new ConfigError(
          `secretgate.environment.serve.${index}: ${JSON.stringify(entry)} is one of the variables secretgate uses itself (its settings, callers' tokens, database or cloud credentials) and is never served; remove it`,
        );
      }
    });
    this.patterns = options.serve.map(compileGlob);
  }

  /** A variable the service uses itself: never served, and never read as a value by a back end. */
  isProtected(variable: string): boolean {
    const folded = fold(variable);
    return this.protectedNames.has(folded) || PROTECTED_PREFIXES.some((prefix) => folded.startsWith(prefix));
  }

  /** Whether a Read may answer `name` with the service's own variable of that name. */
  serves(name: string): boolean {
    return this.patterns.some((pattern) => pattern.test(name)) && !this.isProtected(name);
  }

  /**
   * The environment without its protected variables (own properties only): where the KMS back
   * ends look up the ciphertext they decrypt, so no Read makes them decrypt (or send to KMS) a
   * variable of the service's own.
   */
  withoutProtected(env: Env): Env {
    return Object.fromEntries(Object.entries(env).filter(([variable]) => !this.isProtected(variable)));
  }
}

function fold(variable: string): string {
  return variable.toUpperCase();
}
