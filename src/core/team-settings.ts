import { createHash } from "node:crypto";
import { z } from "zod";
import { describeIssue } from "../config/issues.js";
import { PROXY_WIDE_SETTING_NAMES } from "../config/key-management-settings.js";
import type { DriverDefinition } from "../drivers/driver.js";
import type { Backends, Team } from "./backends.js";
import { canonicalJson } from "./canonical-json.js";
import { invalidArgument } from "./errors.js";

export const REDACTED = "[redacted]";

const MAX_SETTINGS_BYTES = 16 * 1024;
const MAX_SETTINGS_DEPTH = 8;
const CREDENTIAL_LIKE = /secret|token|password|passphrase|credential|private|api_key|apikey/i;
const DIGEST_HEX_CHARS = 16;
/** How errors name a call's own team settings. */
const FIELD_OF_CALL = "team_settings";

/**
 * Validates team settings JSON against one back end's team keys (docs/configuration.md, "Team settings"); messages name
 * the offending key under `field` (`settings` of SetTeamSettings, a call's `team_settings`).
 */
export function validateTeamSettings(
  schema: z.ZodType<Record<string, unknown>>,
  settings: unknown,
  field = "settings",
): Record<string, unknown> {
  checkBounds(settings, field);
  const result = schema.safeParse(settings ?? {});
  if (!result.success) {
    throw invalidArgument(
      [...result.error.issues.map((issue) => describeIssue(issue, field)), ...proxyWideHint(result.error.issues)].join(
        "; ",
      ),
    );
  }
  return result.data;
}

/** Says where the LiteLLM proxy-wide keys among a team's unknown keys belong (see PROXY_WIDE_SETTING_NAMES). */
function proxyWideHint(issues: readonly z.core.$ZodIssue[]): string[] {
  const proxyWide = issues.flatMap((issue) =>
    issue.code === "unrecognized_keys" && issue.path.length === 0
      ? issue.keys.filter((key) => PROXY_WIDE_SETTING_NAMES.has(key))
      : [],
  );
  if (proxyWide.length === 0) return [];
  const named = proxyWide.map((key) => JSON.stringify(key));
  const list = named.length === 1 ? named[0] : `${named.slice(0, -1).join(", ")} and ${named.at(-1)}`;
  return [
    `${list} ${named.length === 1 ? "is one of" : "are"} LiteLLM's ` +
      `proxy-wide key_management_settings, which secretgate takes from its own ` +
      `configuration, never from a team's settings: remove ` +
      `${named.length === 1 ? "it" : "them"} from the team's settings`,
  ];
}

/**
 * Validates team settings that may name their back end (`"backend": "vault-eu"`): the other
 * keys against that back end's team keys, or, without one, against `otherwise`'s (the back end
 * settings they merge with belong to; the default when absent). Messages name the key under `field`.
 */
export function validateTeamSettingsOn(
  backends: Backends,
  settings: Record<string, unknown>,
  field: string,
  otherwise: Team = {},
): Record<string, unknown> {
  const named = settings.backend;
  if (named === undefined) return validateTeamSettings(backends.homeOf(otherwise).teamSettings, settings, field);
  if (typeof named !== "string") throw invalidArgument(`${field}.backend: must be the name of a back end`);
  const home = backends.get(named);
  if (!home) throw invalidArgument(`${field}.backend: ${JSON.stringify(named)} is not a configured back end`);
  checkBounds(settings, field);
  const { backend: _home, ...rest } = settings;
  return { backend: named, ...validateTeamSettings(home.teamSettings, rest, field) };
}

/**
 * A call's own `team_settings`, validated like stored ones (over `stored`'s back end when they
 * name none). REDACTED is only what GetTeamSettings shows in place of a stored credential, never
 * a credential a call may send: INVALID_ARGUMENT naming the key.
 */
export function validateCallSettings(
  backends: Backends,
  sent: Record<string, unknown>,
  stored: Team = {},
): Record<string, unknown> {
  const home = typeof sent.backend === "string" ? backends.get(sent.backend) : backends.homeOf(stored);
  const sensitiveKeys = home?.definition.sensitiveTeamKeys;
  const refuse = (value: unknown, key: string, path: string): void => {
    if (value === REDACTED && isSensitiveKey(key, sensitiveKeys)) {
      throw invalidArgument(
        `${path}: "${REDACTED}" is what GetTeamSettings shows for a stored ` +
          `credential; send the credential itself, or leave the key out to use the ` +
          `team's`,
      );
    }
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [inner, item] of Object.entries(value)) refuse(item, inner, `${path}.${inner}`);
    }
  };
  refuse(sent, "", FIELD_OF_CALL);
  return validateTeamSettingsOn(backends, sent, FIELD_OF_CALL, stored);
}

/**
 * The settings a call runs under: its own validated `team_settings` over the team's stored ones
 * when both are for one back end — settings naming none are for the stored ones' (the call's keys
 * win) — else the call's alone. A credential
 * stored for the team comes along only while the call keeps the location it was stored for
 * (DriverDefinition.teamLocationKeys): a call that names another role or vault never sends the
 * team's external id or secret there.
 */
export function mergeCallSettings(backends: Backends, stored: Team, inline: Record<string, unknown>): Team {
  // Settings that name no back end stay on the one the stored settings name (the merge keeps its `backend`).
  const home = inline.backend === undefined ? backends.homeOf(stored) : backends.homeOf(inline);
  if (home !== backends.homeOf(stored)) return inline;
  const merged = { ...stored, ...inline };
  if (changedLocationKeys(home.definition, stored, merged).length === 0) return merged;
  const sensitiveKeys = home.definition.sensitiveTeamKeys;
  const kept = Object.fromEntries(Object.entries(stored).filter(([key]) => !isSensitiveKey(key, sensitiveKeys)));
  return { ...kept, ...inline };
}

/**
 * Settings as an editor sends them back: a credential key whose value is still REDACTED (as
 * GetTeamSettings showed it) stands for the value `stored` holds there, so an edit that does not
 * replace a credential keeps it — as long as the settings still point where it was stored for
 * (the same back end and DriverDefinition.teamLocationKeys): a stored external id is never
 * restored for another role. Otherwise, and where nothing is stored, REDACTED is
 * INVALID_ARGUMENT naming the key: it must never be stored or used as a credential.
 */
export function withStoredCredentials(
  backends: Backends,
  sent: Record<string, unknown>,
  stored: Readonly<Record<string, unknown>> | undefined,
  field: string,
): Record<string, unknown> {
  const named = typeof sent.backend === "string" ? backends.get(sent.backend) : undefined;
  const home = named ?? backends.default;
  const sensitiveKeys = home.definition.sensitiveTeamKeys;
  // What the settings changed of where the stored ones point, worked out once a credential is to be restored.
  const movedFrom = (storedSettings: Readonly<Record<string, unknown>>): string[] => {
    const storedHome = storedSettings.backend === undefined ? backends.default.name : storedSettings.backend;
    return [
      ...(storedHome === home.name ? [] : ["backend"]),
      ...changedLocationKeys(home.definition, storedSettings, sent),
    ];
  };
  let changed: string[] | undefined;
  const restore = (value: unknown, previous: unknown, key: string, path: string): unknown => {
    if (value === REDACTED && isSensitiveKey(key, sensitiveKeys)) {
      if (previous === undefined || previous === REDACTED)
        throw invalidArgument(`${path}: "${REDACTED}" stands for the stored value, and none is stored`);
      changed ??= movedFrom(stored ?? {});
      if (changed.length > 0) {
        throw invalidArgument(
          `${path}: "${REDACTED}" stands for the stored value, which was stored ` +
            `for another ${changed.join(" and ")}; send the value for this one`,
        );
      }
      return previous;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
    const before =
      previous !== null && typeof previous === "object" && !Array.isArray(previous)
        ? (previous as Record<string, unknown>)
        : {};
    return Object.fromEntries(
      Object.entries(value).map(([inner, item]) => [inner, restore(item, before[inner], inner, `${path}.${inner}`)]),
    );
  };
  return restore(sent, stored ?? {}, "", field) as Record<string, unknown>;
}

/**
 * The JSON Schema of what a team may store for a back end (DescribeBackends), generated from its
 * zod schema, with `backend` added and keys that hold credentials marked `writeOnly` (they come
 * back redacted).
 */
export function teamSettingsJsonSchema(definition: DriverDefinition, backendName: string): Record<string, unknown> {
  const schema = z.toJSONSchema(definition.teamSettings, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  const properties = { ...((schema.properties ?? {}) as Record<string, Record<string, unknown>>) };
  for (const [key, property] of Object.entries(properties)) {
    if (isSensitiveKey(key, definition.sensitiveTeamKeys)) properties[key] = { ...property, writeOnly: true };
  }
  properties.backend = {
    type: "string",
    const: backendName,
    description: "the back end these settings belong to (default: the default back end)",
  };
  return { ...schema, properties };
}

/**
 * What audit records carry instead of a call's team settings (which may hold credentials): a
 * SHA-256 prefix of their canonical JSON, enough to tell calls with the same settings apart from
 * others without showing them.
 */
export function teamSettingsDigest(settings: Readonly<Record<string, unknown>>): string {
  return createHash("sha256").update(canonicalJson(settings)).digest("hex").slice(0, DIGEST_HEX_CHARS);
}

/** Replaces credential-like values (by key name, or declared by the driver) before they leave the service. */
export function redactTeamSettings(
  settings: Record<string, unknown>,
  sensitiveKeys: readonly string[] = [],
): Record<string, unknown> {
  const redact = (value: unknown, key: string): unknown => {
    if (isSensitiveKey(key, sensitiveKeys)) return REDACTED;
    if (Array.isArray(value)) return value.map((item) => redact(item, ""));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([inner, item]) => [inner, redact(item, inner)]));
    }
    return value;
  };
  return redact(settings, "") as Record<string, unknown>;
}

/**
 * The location keys (DriverDefinition.teamLocationKeys; unset, every key but the credentials)
 * whose values differ between `before` and `after`, in order.
 */
function changedLocationKeys(
  definition: DriverDefinition,
  before: Readonly<Record<string, unknown>>,
  after: Readonly<Record<string, unknown>>,
): string[] {
  const sensitiveKeys = definition.sensitiveTeamKeys;
  const keys =
    definition.teamLocationKeys ??
    [...new Set([...Object.keys(before), ...Object.keys(after)])]
      .filter((key) => key !== "backend" && !isSensitiveKey(key, sensitiveKeys))
      .sort();
  // Credentials nested in a key (a tag named like one) are compared as they are shown: redacted.
  const shown = (settings: Readonly<Record<string, unknown>>, key: string) => {
    const value = settings[key] ?? null;
    return value === null || typeof value !== "object"
      ? value
      : canonicalJson(redactTeamSettings({ value }, sensitiveKeys));
  };
  return keys.filter((key) => shown(before, key) !== shown(after, key));
}

function checkBounds(settings: unknown, field: string): void {
  const size = Buffer.byteLength(JSON.stringify(settings ?? {}), "utf8");
  if (size > MAX_SETTINGS_BYTES)
    throw invalidArgument(`${field} is ${size} bytes; the limit is ${MAX_SETTINGS_BYTES} bytes`);
  if (depth(settings) > MAX_SETTINGS_DEPTH)
    throw invalidArgument(`${field} is nested deeper than ${MAX_SETTINGS_DEPTH} levels`);
}

function isSensitiveKey(key: string, sensitiveKeys: readonly string[] = []): boolean {
  return sensitiveKeys.includes(key) || CREDENTIAL_LIKE.test(key);
}

function depth(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, depth(child)), 0);
}
