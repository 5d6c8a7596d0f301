import { z } from "zod";

/**
 * Where Microsoft's clouds serve Key Vault: the "DNS suffixes for base URL" table of Azure Key
 * Vault's documentation (public, China, US Government and the retired German cloud) and the
 * Managed HSM suffixes of the same clouds that Microsoft's own clients trust.
 */
export const KEY_VAULT_DNS_SUFFIXES = [
  "vault.azure.net",
  "vault.azure.cn",
  "vault.usgovcloudapi.net",
  "vault.microsoftazure.de",
  "managedhsm.azure.net",
  "managedhsm.azure.cn",
  "managedhsm.usgovcloudapi.net",
  "managedhsm.microsoftazure.de",
] as const;

/** One DNS label: a vault's or a managed HSM's name in front of its cloud's suffix. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * An `allowed_vault_hosts` entry: a host name or address as a URL spells it (lowercase, IPv6 in
 * brackets), with `:port` for any port but 443, optionally `*.` for any one label in front.
 */
const HOST_PATTERN = /^(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/;

export const allowedVaultHost = z
  .string()
  .regex(
    HOST_PATTERN,
    "must be a host name or address as in a URL (lowercase), with :port unless 443, optionally starting with *.",
  );

/**
 * Why `value` cannot be a team's `vault_uri`; undefined when it can. The service sends its own Key
 * Vault bearer token to that address (after the vault's 401 challenge), so it must be a Key Vault
 * host of a Microsoft cloud on the standard port, or one the operator lists in
 * `allowed_vault_hosts` (an emulator, a private endpoint under another name), written exactly as
 * it will be requested: nothing a URL parser would rewrite (a path step, `%`-escapes, a default
 * port), no user, path, query or fragment.
 */
export function teamVaultUriProblem(value: string, allowedHosts: readonly string[]): string | undefined {
  const problem = vaultUriProblem(value);
  if (problem) return problem;
  const url = new URL(value);
  if (url.username !== "" || url.password !== "") return "must not hold a user name or password";
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "")
    return "must be the vault's address alone (https://NAME.vault.azure.net), without a path, query or fragment";
  if (value.toLowerCase().replace(/\/$/, "") !== url.origin)
    return `must be written as the vault's address exactly as requested (${url.origin})`;
  if (isKnownCloudHost(url) || allowedHosts.some((pattern) => hostMatches(pattern, url.host))) return undefined;
  return (
    "must be a Key Vault of a Microsoft cloud (https://NAME.vault.azure.net, " +
    ".vault.azure.cn, .vault.usgovcloudapi.net, .managedhsm.azure.net, …) or " +
    "a host listed in the back end's allowed_vault_hosts"
  );
}

/**
 * A vault URI must be https, loopback emulators included: the SDK's challenge authentication
 * refuses to send a token over plain http ("The request URL must use HTTPS"), so an http URI
 * is refused at start-up rather than failing at the first call.
 */
export function vaultUriProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "is not a URL";
  }
  if (url.protocol === "https:") return undefined;
  return (
    "must be an https:// URL: the Key Vault SDK sends tokens over https only " +
    "(for an emulator with its own CA, set NODE_EXTRA_CA_CERTS)"
  );
}

function isKnownCloudHost(url: URL): boolean {
  if (url.port !== "") return false;
  const dot = url.hostname.indexOf(".");
  return (
    dot > 0 &&
    LABEL.test(url.hostname.slice(0, dot)) &&
    (KEY_VAULT_DNS_SUFFIXES as readonly string[]).includes(url.hostname.slice(dot + 1))
  );
}

function hostMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith("*.")) return pattern === host;
  const dot = host.indexOf(".");
  return dot > 0 && LABEL.test(host.slice(0, dot)) && host.slice(dot + 1) === pattern.slice(2);
}
