import type { Logger } from "pino";
import type { z } from "zod";
import type { Env } from "../config/env.js";
import type { KeyManagementSettings } from "../config/key-management-settings.js";
import type { KnownSystem } from "../config/known-system.js";
import type { Code } from "../core/errors.js";
import type { SecretDatabase } from "../storage/database.js";
import type { PostgresDatabase } from "../storage/postgres/postgres-database.js";
import type { Encryptor } from "./encryptor.js";

/** A value as a back end holds it: text or bytes, with the back end's version id. */
export interface SecretValue {
  text?: string;
  binary?: Uint8Array;
  version: string;
}

/** A value to store: exactly one of text or bytes. */
export type SecretPayload = { text: string; binary?: undefined } | { binary: Uint8Array; text?: undefined };

/** What every driver call carries: the team's validated settings and the caller's deadline. */
export interface DriverCall {
  /** The team the call is for ("" for none). Drivers use `team`; the core names the team in change notices. */
  teamId?: string;
  /** The team's settings, validated against the driver's `teamSettings` schema; `{}` for none. */
  team: Readonly<Record<string, unknown>>;
  /** Aborted when the caller's deadline passes or the caller goes away. */
  signal: AbortSignal;
  /** The caller's deadline (epoch milliseconds), for SDKs that take a per-call timeout. */
  deadline?: number;
}

export interface DriverWrite {
  name: string;
  value: SecretPayload;
  description?: string;
  tags: Record<string, string>;
}

export interface DriverWriteResult {
  version: string;
  /**
   * This write created the secret: the name held no secret at all before, as the back end
   * tells. Adding a version to an existing secret, or restoring a soft-deleted (recoverable) one,
   * is not creating it. When the back end cannot tell for sure, false: the core only ever
   * removes what a write created, so a wrong "false" leaves a secret behind, a wrong "true"
   * could delete another caller's.
   */
  created: boolean;
  /**
   * What tells this write's version apart from a later one the back end may give the same id
   * (Google Secret Manager and Vault number versions from 1 again once a secret is deleted and
   * written anew): the version's etag, its creation time. Opaque to the core, which hands it back
   * to `removeWrittenVersion`; absent where version ids are never reused.
   */
  versionStamp?: string;
  /** Non-fatal problems (e.g. best-effort replication failed); the write succeeded. */
  warnings?: string[];
}

/**
 * A secret's metadata as the back end holds it: what a migration copies besides the value. Never
 * the value itself.
 */
export interface SecretMetadata {
  description?: string;
  /** The caller's tags; tags a driver adds for its own bookkeeping are left out. */
  tags: Record<string, string>;
}

export interface DriverDeleteResult {
  /** The back end keeps the secret recoverable for a while (recovery window, soft delete). */
  recoverable: boolean;
}

/**
 * What a back end can do; the core asks this rather than trying and failing. Declared by its
 * definition (DriverDefinition.capabilities), for every driver it creates.
 */
export interface DriverCapabilities {
  /** Write and Delete are possible (KMS systems only decrypt). */
  write: boolean;
  /** Binary values can be stored and read back as bytes. */
  binary: boolean;
  /** Stored names can be enumerated (ListHosted includes them). */
  list: boolean;
  /**
   * Which of a write's description and tags the back end keeps, so `describe` reports them back,
   * and whether a write to an existing secret sets them anew (`writesReplace`: Vault, Azure Key
   * Vault, the embedded store) or only the write that creates it does (AWS, Google, whose drivers
   * change them in place with `updateMetadata`). Absent: it keeps neither (Conjur) and the driver
   * has no `describe`.
   */
  metadata?: { description: boolean; tags: boolean; writesReplace: boolean };
  /**
   * The SDK already retries throttling and transient failures (with its own bounded
   * backoff); the core then makes one attempt per call instead of adding retries on top.
   */
  sdkRetries?: boolean;
  /**
   * How `removeWrittenVersion` takes back one version a write created, in a call that names that
   * version and so can touch no other: `destroy` (its value is gone for good) or `disable` (the back
   * end cannot delete a single version: it stays stored, switched off, and is never served).
   * Absent where the back end has no such call (AWS Secrets Manager's DeleteSecret and Conjur's
   * policy delete remove every version): the core then never takes a write back.
   */
  versionRemoval?: "destroy" | "disable";
}

/** A portable classification of a back-end failure, free of secret values. */
export interface ClassifiedError {
  code: Code;
  message: string;
  /** The back end asked to wait this long before retrying (e.g. Retry-After), in milliseconds. */
  retryAfterMs?: number;
}

/**
 * The whole contract between the core and a back end. Drivers translate names and calls
 * into their back end's API and nothing more: validation, prefixes, access mode, hosted
 * keys, team-settings lookup, caching and authorization live in the core. What a driver can do
 * is its definition's to declare (DriverDefinition.capabilities); the optional methods below are
 * present exactly where those capabilities say.
 */
export interface SecretDriver {
  /** The current value, or undefined when the name does not exist. */
  read(name: string, call: DriverCall): Promise<SecretValue | undefined>;
  /** Create or add a new version (an upsert), restoring a soft-deleted secret if needed; says which it did. */
  write(request: DriverWrite, call: DriverCall): Promise<DriverWriteResult>;
  /** Delete; undefined when the name does not exist. `force` skips any recovery window. */
  delete(name: string, options: { force: boolean }, call: DriverCall): Promise<DriverDeleteResult | undefined>;
  /**
   * Takes back the version a write of this driver made when that write created `name` (Rotate's
   * roll-back), as its capabilities' `versionRemoval` says, and nothing else: the back end's call names
   * that one version (or runs in one transaction with the check), so another writer's version —
   * even one landing meanwhile — is never touched, and a newer one stays what reads return. False,
   * having changed nothing, when the back end no longer holds that version as the write left it
   * (deleted, or its id reused by a later secret), or when taking it back would leave an older
   * version of another writer unreadable. Present exactly when `versionRemoval` is.
   */
  removeWrittenVersion?(name: string, written: DriverWriteResult, call: DriverCall): Promise<boolean>;
  /**
   * The current version id without fetching the value, where the back end has cheap version
   * metadata (AWS DescribeSecret, Vault KV metadata, Google version metadata). The cache uses
   * it to refresh a value only when it changed. Undefined when the name does not exist.
   */
  currentVersion?(name: string, call: DriverCall): Promise<string | undefined>;
  /**
   * The secret's description and tags, when `capabilities.metadata`; undefined when the name holds
   * no secret (never written, deleted, soft-deleted). Off the read path: Reads never call it.
   */
  describe?(name: string, call: DriverCall): Promise<SecretMetadata | undefined>;
  /**
   * Changes an existing secret's metadata without adding a version: its description to
   * `metadata.description` when that is set, and each of `metadata.tags` (tags it holds besides
   * stay). For back ends whose writes set metadata only when they create a secret (AWS
   * UpdateSecret and TagResource, Google UpdateSecret). A secret that does not exist is NOT_FOUND.
   */
  updateMetadata?(name: string, metadata: SecretMetadata, call: DriverCall): Promise<void>;
  /** Stored names, when `capabilities.list`. */
  list?(call: DriverCall): Promise<string[]>;
  /**
   * Identifies where a team's secrets live (region, vault, project, mount, …), so cache
   * entries of two teams' identical names never collide; a team whose key equals the one for
   * `{}` shares the configured location's entries. Defaults to the settings' canonical JSON.
   */
  locationKey?(team: Readonly<Record<string, unknown>>): string;
  /** Maps a thrown back-end error to a portable code and a value-free message. */
  classifyError(error: unknown): ClassifiedError;
  close(): Promise<void>;
}

/** What a driver is given when it is created. */
export interface DriverContext {
  /** `general_settings.key_management_settings`, validated (incl. the driver's own keys). */
  settings: KeyManagementSettings;
  /** The process environment (LiteLLM's variable names), passed in so tests can supply their own. */
  env: Readonly<Record<string, string | undefined>>;
  /**
   * The environment without the variables the service uses itself (its settings, callers'
   * tokens, database and cloud credentials): where a back end that decrypts values held in the
   * environment (the KMS back ends) looks them up, so no Read makes it decrypt one of those.
   */
  ciphertextEnv: Readonly<Record<string, string | undefined>>;
  /** The service's database (SQLite in the data directory); it holds the master key. */
  database: SecretDatabase;
  /** The shared PostgreSQL database, when DATABASE_URL is set: the embedded store keeps its secrets there. */
  postgres?: PostgresDatabase;
  logger: Logger;
}

/**
 * One back end, as its folder's `index.ts` exports it and src/systems.ts lists it: everything the
 * rest of the service needs to know about it — its name, settings and team-settings schemas,
 * capabilities, the environment it reads, its cache defaults, its encryptor — and, loaded only when
 * the back end is configured, the module that creates its driver (and brings its SDK).
 */
export interface DriverDefinition extends KnownSystem {
  /** The `key_management_system` value; also the `source` reported in read results. */
  readonly name: string;
  /** What every driver it creates can do. */
  readonly capabilities: DriverCapabilities;
  /** The keys a team may set for this back end (docs/configuration.md, "Team settings"); must reject unknown keys. */
  readonly teamSettings: z.ZodType<Record<string, unknown>>;
  /**
   * The team keys as this back end's own settings shape them, where they depend on them (Azure:
   * the vault hosts the operator allows besides Microsoft's clouds). Unset: `teamSettings`.
   */
  teamSettingsFor?(settings: KeyManagementSettings): z.ZodType<Record<string, unknown>>;
  /**
   * Names this back end serves whatever `hosted_keys` says, as the environment holds them at
   * start-up. aws_kms: LiteLLM's bulk forms, which LiteLLM decrypts before it reads hosted_keys.
   */
  hostedWhateverHostedKeys?(env: Env): readonly string[];
  /**
   * What ends a virtual-key prefix on this back end: a prefix's trailing `/` (LiteLLM's default
   * `litellm/`) becomes this. Unset: `/` stays. Google Secret Manager ids cannot hold `/`.
   */
  readonly prefixSeparator?: string;
  /** Team-settings keys holding credentials: redacted in GetTeamSettings and logs. */
  readonly sensitiveTeamKeys?: readonly string[];
  /**
   * The team keys that say where a team's calls go and as whom (a region and role, a vault, an
   * account and branch, …). A stored credential comes along only while these hold what they held
   * when it was stored: REDACTED sent back by an editor stands for it, and a call's own
   * team_settings carry it over, only then. Unset: every key but the credentials.
   */
  readonly teamLocationKeys?: readonly string[];
  /**
   * Cache settings LiteLLM users already set for this back end (e.g. HCP_VAULT_REFRESH_INTERVAL,
   * GOOGLE_SECRET_MANAGER_ALWAYS_READ_SECRET_MANAGER): a TTL in seconds, or `bypass` to always read.
   */
  cachePolicy?(context: Pick<DriverContext, "env" | "settings">): { ttlSeconds?: number; bypass?: boolean };
  /** A KMS back end's `secretgate encrypt --kms NAME`: the ciphertext to put in the environment for it. */
  readonly encryptor?: { readonly kms: string; load(): Promise<Encryptor> };
  /** Loads the folder's `driver.ts`, and with it the back end's SDK: only once the back end is configured. */
  load(): Promise<DriverModule>;
}

/** What a back end's `driver.ts` exports. */
export interface DriverModule {
  /** Its driver, from the validated settings and the environment; a ConfigError names a bad setting. */
  createDriver(context: DriverContext): Promise<SecretDriver>;
}
