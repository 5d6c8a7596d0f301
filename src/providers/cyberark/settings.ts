import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { z } from "zod";
import { ConfigError, urlSetting } from "../../config/config-error.js";
import type { Env } from "../../config/env.js";
import { accountProblem, conjurAccount, conjurPolicyBranch } from "./ids.js";

export const SYSTEM = "cyberark";

/** The policy branch variables are declared in when neither the settings nor a team name one. */
export const DEFAULT_POLICY_BRANCH = "root";

/** The environment variables LiteLLM users set for Conjur (docs/backends/cyberark.md). */
export const CYBERARK_ENV_NAMES = [
  "CYBERARK_API_BASE",
  "CYBERARK_ACCOUNT",
  "CYBERARK_USERNAME",
  "CYBERARK_API_KEY",
  "CYBERARK_CLIENT_CERT",
  "CYBERARK_CLIENT_KEY",
  "CYBERARK_SSL_VERIFY",
  "CYBERARK_REFRESH_INTERVAL",
] as const;

export const DEFAULT_REFRESH_INTERVAL_SECONDS = 300;

/** A start-up problem with the Conjur settings in the environment; names the variable. */
/** A bad setting: a configuration error like any other (exit code 2, no stack trace). */
export class ConjurSettingsError extends ConfigError {
  override name = "ConjurSettingsError";
}

export interface ConjurSettings {
  baseUrl: URL;
  account: string;
  login: string;
  apiKey: string;
  tls: { ca?: string[]; cert?: string; key?: string; rejectUnauthorized: boolean };
}

export function readConjurSettings(env: Env): ConjurSettings {
  const base = required(env, "CYBERARK_API_BASE");
  const baseUrl = urlSetting(
    "CYBERARK_API_BASE",
    base,
    ["https:", "http:"],
    "must start with https:// (or http:// for a local Conjur)",
  );
  const certFile = env.CYBERARK_CLIENT_CERT;
  const keyFile = env.CYBERARK_CLIENT_KEY;
  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new ConjurSettingsError("mutual TLS needs both CYBERARK_CLIENT_CERT and CYBERARK_CLIENT_KEY");
  }
  const account = env.CYBERARK_ACCOUNT || "default";
  const problem = accountProblem(account);
  if (problem) throw new ConjurSettingsError(`CYBERARK_ACCOUNT ${problem}`);
  const verify = (env.CYBERARK_SSL_VERIFY ?? "true").toLowerCase() !== "false";
  const extraCa = env.NODE_EXTRA_CA_CERTS;
  return {
    baseUrl,
    account,
    login: required(env, "CYBERARK_USERNAME"),
    apiKey: required(env, "CYBERARK_API_KEY"),
    tls: {
      rejectUnauthorized: verify,
      // Node reads NODE_EXTRA_CA_CERTS at start only; the agent gets the same trust explicitly.
      ...(extraCa ? { ca: [...rootCertificates, readPem(extraCa, "NODE_EXTRA_CA_CERTS")] } : {}),
      ...(certFile && keyFile
        ? { cert: readPem(certFile, "CYBERARK_CLIENT_CERT"), key: readPem(keyFile, "CYBERARK_CLIENT_KEY") }
        : {}),
    },
  };
}

/** CYBERARK_REFRESH_INTERVAL: how long read values are cached, in seconds. */
export function refreshIntervalSeconds(env: Env): number {
  const raw = env.CYBERARK_REFRESH_INTERVAL;
  if (raw === undefined || raw === "") return DEFAULT_REFRESH_INTERVAL_SECONDS;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new ConjurSettingsError(
      `CYBERARK_REFRESH_INTERVAL must be a whole number of seconds, got ${JSON.stringify(raw)}`,
    );
  }
  return seconds;
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw new ConjurSettingsError(`${name} must be set for key_management_system cyberark`);
  return value;
}

function readPem(file: string, variable: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new ConjurSettingsError(
      `${variable} names ${JSON.stringify(file)}, which cannot be read: ${(error as Error).message}`,
    );
  }
}

/** `key_management_settings` keys this back end adds. */
export const conjurSettings = {
  /** The policy branch variables are declared in when a team names none. */
  policy_branch: conjurPolicyBranch.optional(),
};

/** What a team may set for Conjur: where its variables live (account, policy branch) and its virtual keys' prefix. */
export const conjurTeamSettings = z.strictObject({
  account: conjurAccount.optional(),
  policy_branch: conjurPolicyBranch.optional(),
  prefix: z.string().optional(),
});
