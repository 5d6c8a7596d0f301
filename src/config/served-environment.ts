import { compileGlob } from "../auth/identity.js";
import { ConfigError } from "./config-error.js";
import type { Env } from "./env.js";
import type { CredentialEnvironment } from "./known-system.js";

/**
 * Families of variables that secretgate itself and the database client read: its settings, tokens
 * and master key. The back ends' own families (`AWS_`, `AZURE_`, `HCP_`, …) are each back end's
 * to declare (KnownSystem.credentialEnvironment). Whole families rather than lists of names, so a
 * variable added next year is covered too.
 */
const PROTECTED_PREFIXES = [
  "SECRETGATE_", // secretgate's own settings, admin token and master key
  "PG", // PostgreSQL's client variables: PGPASSWORD, PGPASSFILE, PGHOST, PGSSLKEY, …
  "OTEL_", // OpenTelemetry exporters' headers carry collector credentials
  "NODE_", // node's options and CA files, NODE_AUTH_TOKEN
  "NPM_", // npm's settings and auth tokens: `npm start` exports npm_config_*
];

/** Single variables outside those families. */
const PROTECTED_NAMES = [
  "DATABASE_URL",
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
  /** What every back end the service knows reads of the environment, whether it is configured or not. */
  systems: readonly CredentialEnvironment[];
  /** The variables configured back ends' `env` sets. */
  backendVariables: readonly string[];
}

/**
 * Which variables of the service's own process environment a Read may answer with (docs/security.md, "The service's
 * own environment").
 * None by default: that environment holds the service's credentials, not its callers'. The
 * operator lists names or globs in `secretgate.environment.serve`; the variables the service
 * itself uses are never served, whatever a glob matches. Variables are compared without case:
 * process.env is case-insensitive on Windows, and proxy agents read lowercase spellings.
 */
export class ServedEnvironment {
  private readonly patterns: readonly RegExp[];
  private readonly protectedNames: ReadonlySet<string>;
  private readonly protectedPrefixes: readonly string[];

  constructor(options: ServedEnvironmentOptions) {
    const systemNames = options.systems.flatMap((system) => system.names);
    this.protectedNames = new Set(
      [...PROTECTED_NAMES, ...systemNames, ...options.configReferences, ...options.backendVariables].map(fold),
    );
    this.protectedPrefixes = [
      ...new Set([...PROTECTED_PREFIXES, ...options.systems.flatMap((system) => system.families)].map(fold)),
    ];
    options.serve.forEach((entry, index) => {
      // A glob may cover protected names (they are skipped); a protected name listed on its own is a mistake to say
      // out loud.
      if (!GLOB_CHARACTERS.test(entry) && this.isProtected(entry)) {
        throw new ConfigError(
          `secretgate.environment.serve.${index}: ${JSON.stringify(entry)} is one ` +
            `of the variables secretgate uses itself (its settings, callers' tokens, ` +
            `database or cloud credentials) and is never served; remove it`,
        );
      }
    });
    this.patterns = options.serve.map(compileGlob);
  }

  /** A variable the service uses itself: never served, and never read as a value by a back end. */
  isProtected(variable: string): boolean {
    const folded = fold(variable);
    return this.protectedNames.has(folded) || this.protectedPrefixes.some((prefix) => folded.startsWith(prefix));
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
