import { z } from "zod";
import { rulesSchema } from "../auth/identity.js";
import { parseConfiguredSan } from "../auth/subject-alt-names.js";
import { MIN_TOKEN_CHARACTERS, TOKEN_LENGTH_RULE } from "../auth/token-length.js";
import type { AccessMode, KeyManagementSettings } from "./key-management-settings.js";
import type { KnownSystem } from "./known-system.js";
import type { ServedEnvironment } from "./served-environment.js";

/** The OTLP/HTTP encodings tracing can export in (`secretgate.tracing.protocol`, OTEL_EXPORTER_OTLP_PROTOCOL). */
export const OTLP_PROTOCOLS = ["http/protobuf", "http/json"] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

const tokenEntry = z
  .strictObject({
    /** A label for logs and audit records. */
    name: z.string().min(1),
    /** The SHA-256 of the token, hex (preferred: the config then holds no secret). */
    token_sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, "must be 64 hex characters")
      .optional(),
    /** The token itself, usually `os.environ/NAME`. */
    token: z.string().min(MIN_TOKEN_CHARACTERS, TOKEN_LENGTH_RULE).optional(),
    rules: rulesSchema.prefault({}),
  })
  .refine((entry) => (entry.token === undefined) !== (entry.token_sha256 === undefined), {
    message: "set exactly one of token and token_sha256",
  });

const certificateEntry = z
  .strictObject({
    name: z.string().min(1),
    /** Matches the client certificate's subject CN. */
    cn: z.string().min(1).optional(),
    /**
     * Matches one of the client certificate's subject alternative names of the same type:
     * `uri:spiffe://corp/litellm`, `dns:proxy.corp.internal`, `email:ops@corp.example`, `ip:10.0.0.7`.
     */
    san: z
      .string()
      .transform((text, context) => {
        const san = parseConfiguredSan(text);
        if ("problem" in san) {
          context.issues.push({ code: "custom", message: san.problem, input: text });
          return z.NEVER;
        }
        return san;
      })
      .optional(),
    rules: rulesSchema.prefault({}),
  })
  .refine((entry) => entry.cn !== undefined || entry.san !== undefined, { message: "set cn or san" });

export const authSettingsSchema = z.strictObject({
  tokens: z.array(tokenEntry).default([]),
  /** Identities for mutual TLS clients (needs secretgate.tls.client_ca_file). */
  mtls_identities: z.array(certificateEntry).default([]),
});

export type AuthSettings = z.infer<typeof authSettingsSchema>;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

// Node's timers hold at most 2^31 − 1 ms (a longer one fires at once); HTTP/2 settings are 31-bit.
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_HTTP2_SETTING = 2 ** 31 - 1;

/** A `host:port` listen address; port 0 picks a free port. */
const listenAddress = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "must be host:port");

/** `secretgate.cache`, and a back end's own `cache` over it. */
export const cacheSettingsSchema = z.strictObject({
  /** One TTL for every back end, overriding the back end's own default (e.g. HCP_VAULT_REFRESH_INTERVAL). */
  ttl_seconds: z.number().nonnegative().optional(),
  /** TTL for back ends without a LiteLLM default of their own. */
  default_ttl_seconds: z.number().nonnegative().default(300),
  /** How long a "not found" answer is remembered (a Write evicts it at once). */
  negative_ttl_seconds: z.number().nonnegative().default(5),
  /** How long past expiry a cached value may be served, marked stale, while the back end fails (0 disables). */
  max_staleness_seconds: z.number().nonnegative().default(3600),
  /** Last share of the TTL in which a read refreshes the entry in the background. */
  refresh_ahead_fraction: z.number().min(0).max(1).default(0.1),
  max_entries: z.number().int().positive().default(100_000),
  max_bytes: z
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
});

/** `secretgate.resilience` (deadline, retries, concurrency, breaker), and a back end's own `resilience` over it. */
export const resilienceSettingsSchema = z.strictObject({
  /** Deadline for a back-end call when the caller sets none, in seconds. */
  default_deadline_seconds: z.number().positive().default(10),
  /** Back-end calls in flight at once; more wait in line. */
  max_concurrent_calls: z.number().int().positive().default(64),
  /** Attempts per call on retryable failures (throttling, unavailable, timeouts), the first included. */
  retry_max_attempts: z.number().int().min(1).max(10).default(3),
  retry_base_delay_ms: z.number().int().nonnegative().default(100),
  retry_max_delay_ms: z.number().int().nonnegative().default(2000),
  /** Retries may add at most this share of extra calls. */
  retry_budget_ratio: z.number().min(0).max(1).default(0.2),
  /** Consecutive availability failures that open the circuit breaker. */
  breaker_failure_threshold: z.number().int().positive().default(5),
  /** How long an open breaker fails fast before letting one probe through, in seconds. */
  breaker_open_seconds: z.number().positive().default(10),
});

export type CacheSettings = z.infer<typeof cacheSettingsSchema>;
export type ResilienceSettings = z.infer<typeof resilienceSettingsSchema>;

/**
 * A back end's name: a key of `secretgate.backends`, the `<backend>://` of a reference, the
 * `source` of what it answers, a metrics label and part of a gRPC health service name.
 */
export const BACKEND_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
export const BACKEND_NAME_RULE = "a letter, then up to 62 letters, digits, '_' or '-'";
const backendName = z.string().regex(BACKEND_NAME, `must be ${BACKEND_NAME_RULE}`);

/**
 * One entry of `secretgate.backends`. Its `key_management_settings` are validated against its
 * system's keys, and its `cache` and `resilience` merged over the global ones, once the system is
 * known (config/load.ts).
 */
const backendEntrySchema = z.strictObject({
  /** LiteLLM's `key_management_system`; absent: the embedded store. */
  key_management_system: z.string().min(1).optional(),
  key_management_settings: z.record(z.string(), z.unknown()).optional(),
  /**
   * Values for the variables the system reads (YAML numbers and booleans as their text); unset ones come from the
   * process environment.
   */
  env: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).optional(),
  cache: z.record(z.string(), z.unknown()).optional(),
  resilience: z.record(z.string(), z.unknown()).optional(),
});

export type BackendEntry = z.infer<typeof backendEntrySchema>;

/**
 * One of `secretgate.routes`: which back end a call goes to; first match wins, an omitted condition matches
 * everything.
 */
const routeSchema = z
  .strictObject({
    /** Globs over the name as the caller wrote it (before a virtual-key prefix, which belongs to the back end). */
    names: z.array(z.string().min(1)).min(1).optional(),
    /** true: only virtual-key calls; false: only the others. */
    virtual_keys: z.boolean().optional(),
    /** Team ids; a call without a team does not match. */
    teams: z
      .array(z.string().regex(/^[A-Za-z0-9_.:@-]{1,256}$/, "must be a team id (letters, digits and -_.:@)"))
      .min(1)
      .optional(),
    backend: backendName,
    /** Read-only: asked in order when the one before misses or is unavailable. */
    fallback: z.array(backendName).default([]),
    /** Writes, deletes and rotations also go to every fallback (while secrets move between back ends). */
    mode: z.literal("dual_write").optional(),
  })
  .refine((route) => route.mode !== "dual_write" || route.fallback.length > 0, {
    message: "mode dual_write needs at least one fallback to copy writes to",
    path: ["mode"],
  });

export type RouteSettings = z.infer<typeof routeSchema>;

/** secretgate's own settings, under the top-level `secretgate:` key of the config file. */
export const serverSettingsSchema = z.strictObject({
  grpc_address: listenAddress.default("127.0.0.1:50051"),
  http_address: listenAddress.default("127.0.0.1:8080"),
  data_dir: z.string().min(1).default("./data"),
  /**
   * PostgreSQL shared by replicas (postgres://…): team settings, the embedded store's secrets and
   * cross-replica cache invalidation. DATABASE_URL when unset; without either, SQLite in data_dir.
   */
  database_url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  /**
   * While a replica cannot hear the others' changes (PostgreSQL unreachable), how long a cached value
   * stays fresh before it is read again from its back end (docs/operations.md, "Running several replicas").
   */
  database_outage_ttl_seconds: z.number().positive().default(5),
  log_level: z.enum(LOG_LEVELS).default("info"),
  /** Largest value Write accepts, in bytes. */
  max_value_bytes: z
    .number()
    .int()
    .positive()
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  /** Largest request message either listener accepts, in bytes. */
  max_message_bytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024),
  environment: z
    .strictObject({
      /**
       * Variables of the service's own environment that Read may answer with (names or globs, as
       * rules match names); none by default (docs/security.md, "The service's own environment"). The service's
       * own variables never are.
       */
      serve: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  /** How long SIGTERM waits for in-flight calls before closing connections, in seconds. */
  shutdown_grace_seconds: z.number().nonnegative().default(10),
  /** Bounds on what one connection may hold and for how long, per listener. */
  limits: z
    .strictObject({
      /**
       * A connection must send a complete request head (or the HTTP/2 preface and SETTINGS) within this, and each
       * later request head or header block must end within this of being seen; with TLS, the handshake gets as long
       * again first.
       */
      header_timeout_ms: z.number().int().positive().max(MAX_TIMER_MS).default(10_000),
      /** A connection with no request or stream in flight is closed after this. */
      idle_timeout_ms: z.number().int().positive().max(MAX_TIMER_MS).default(120_000),
      /** Open connections per listener; when full, a new one takes the place of the least useful (docs/security.md). */
      max_connections: z.number().int().positive().default(4096),
      /**
       * Open connections per listener from one address (IPv6: one /64); past it, the peer's own least useful one
       * makes room.
       */
      max_connections_per_peer: z.number().int().positive().default(512),
      /** Streams one HTTP/2 connection may have open at once (advertised in its SETTINGS). */
      max_concurrent_streams: z.number().int().positive().max(MAX_HTTP2_SETTING).default(256),
      /** A request's body (its message) must be complete within this of its head; a late one is cancelled. */
      body_timeout_ms: z.number().int().positive().max(MAX_TIMER_MS).default(30_000),
      /** Bytes that request bodies still arriving may hold together, per listener; past it a body is refused. */
      max_arriving_body_bytes: z
        .number()
        .int()
        .positive()
        .default(64 * 1024 * 1024),
    })
    .prefault({}),
  auth: authSettingsSchema.prefault({}),
  /** TLS for both listeners (PEM files, re-read on SIGHUP). */
  tls: z
    .strictObject({
      cert_file: z.string().min(1),
      key_file: z.string().min(1),
      /** CA that client certificates must chain to; enables mutual TLS. */
      client_ca_file: z.string().min(1).optional(),
    })
    .optional(),
  /**
   * OpenTelemetry tracing (docs/operations.md, "Tracing"): on when set, or when OTEL_EXPORTER_OTLP_ENDPOINT or
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is; these keys win over their OTEL_* variables.
   */
  tracing: z
    .strictObject({
      /** The collector's OTLP/HTTP base URL (as OTEL_EXPORTER_OTLP_ENDPOINT): spans go to {endpoint}/v1/traces. */
      endpoint: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).optional(),
      protocol: z.enum(OTLP_PROTOCOLS).optional(),
      /** Put secret names and team ids in spans (never values or team settings). */
      record_names: z.boolean().default(false),
    })
    .optional(),
  audit: z
    .strictObject({
      /** Append audit records to this file instead of stdout (reopened on SIGHUP). */
      file: z.string().min(1).optional(),
      /**
       * A call whose audit record cannot be written: `fail_closed` refuses it (UNAVAILABLE) and answers
       * OK only once its record is written; `fail_open` answers it anyway (docs/operations.md, "Audit").
       */
      on_failure: z.enum(["fail_closed", "fail_open"]).default("fail_closed"),
    })
    .prefault({}),
  cache: cacheSettingsSchema.prefault({}),
  resilience: resilienceSettingsSchema.prefault({}),
  /** Named back ends, each with its own system, settings, environment, cache and resilience settings. */
  backends: z.record(z.string(), backendEntrySchema).optional(),
  /** Where calls no route, reference or team settings place go. */
  default_backend: backendName.optional(),
  routes: z.array(routeSchema).default([]),
});

export type ServerSettings = z.infer<typeof serverSettingsSchema>;

/**
 * One back end as configured: under `secretgate.backends`, or the one of `general_settings`.
 * `S` is what the caller of `loadConfig` knows of each system (the wiring: a DriverDefinition).
 */
export interface BackendConfig<S extends KnownSystem = KnownSystem> {
  name: string;
  /** Its `key_management_system`; `local` for the embedded store. */
  system: string;
  definition: S;
  settings: KeyManagementSettings;
  /**
   * Access mode in force: the configured one, else LiteLLM's `read_only` for a remote back end and `read_and_write`
   * for the embedded store.
   */
  accessMode: AccessMode;
  /** Its own values for the variables its system reads (`env`), laid over the process environment. */
  env: Readonly<Record<string, string>>;
  /** `secretgate.cache` with the back end's own `cache` keys over it. */
  cache: CacheSettings;
  /** `secretgate.resilience` with the back end's own `resilience` keys over it. */
  resilience: ResilienceSettings;
  /** Where it is configured (`general_settings`, `secretgate.backends.NAME`): error messages name it. */
  at: string;
}

export interface Config<S extends KnownSystem = KnownSystem> {
  server: ServerSettings;
  /** Every back end, in configuration order (`general_settings`' first). */
  backends: readonly BackendConfig<S>[];
  /** The name of the back end that calls go to when nothing else places them. */
  defaultBackend: string;
  /** What of the service's own environment Read may serve: `environment.serve` minus what the service uses itself. */
  servedEnvironment: ServedEnvironment;
  /** The path of the file the config came from, if any. */
  source?: string;
}
