import { createHash } from "node:crypto";
import type { z } from "zod";
import { describeIssue } from "../config/load.js";
import { invalidArgument } from "./errors.js";

export const REDACTED = "[redacted]";

const MAX_SETTINGS_BYTES = 16 * 1024;
const MAX_SETTINGS_DEPTH = 8;
const CREDENTIAL_LIKE = /secret|token|password|passphrase|credential|private|api_key|apikey/i;
const DIGEST_HEX_CHARS = 16;

/**
 * Validates team settings JSON against the active back end's team keys (SPEC §5); messages name
 * the offending key under `field` (`settings` of SetTeamSettings, a call's `team_settings`).
 */
export function validateTeamSettings(schema: z.ZodType<Record<string, unknown>>, settings: unknown, field = "settings"): Record<string, unknown> {
  const size = Buffer.byteLength(JSON.stringify(settings ?? {}), "utf8");
  if (size > MAX_SETTINGS_BYTES) throw invalidArgument(`${field} is ${size} bytes; the limit is ${MAX_SETTINGS_BYTES} bytes`);
  if (depth(settings) > MAX_SETTINGS_DEPTH) throw invalidArgument(`${field} is nested deeper than ${MAX_SETTINGS_DEPTH} levels`);
  const result = schema.safeParse(settings ?? {});
  if (!result.success) {
    throw invalidArgument(result.error.issues.map((issue) => describeIssue(issue, field)).join("; "));
  }
  return result.data;
}

/** JSON with every object's keys sorted: equal settings give equal text whatever order they came in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
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
export function redactTeamSettings(settings: Record<string, unknown>, sensitiveKeys: readonly string[] = []): Record<string, unknown> {
  const redact = (value: unknown, key: string): unknown => {
    if (sensitiveKeys.includes(key) || CREDENTIAL_LIKE.test(key)) return REDACTED;
    if (Array.isArray(value)) return value.map((item) => redact(item, ""));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([inner, item]) => [inner, redact(item, inner)]));
    }
    return value;
  };
  return redact(settings, "") as Record<string, unknown>;
}

function depth(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, depth(child)), 0);
}
