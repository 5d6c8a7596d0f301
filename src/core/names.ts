import { invalidArgument } from "./errors.js";

/** LiteLLM writes secret references as `os.environ/NAME`; callers may pass them as they are. */
export const ENV_REFERENCE_PREFIX = "os.environ/";

export const MAX_NAME_BYTES = 512;

// C0 and C1 control characters, DEL, and the Unicode line/paragraph separators: they break
// log lines, HTTP paths and back-end URLs.
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

export function stripEnvReference(name: string): string {
  return name.startsWith(ENV_REFERENCE_PREFIX) ? name.slice(ENV_REFERENCE_PREFIX.length) : name;
}

/**
 * Checks a secret name before it reaches any back end. `field` names the request field in
 * the error message. Refuses what could escape a path (`.`/`..` segments, empty segments)
 * or corrupt logs and URLs (control characters).
 */
export function validateSecretName(name: string, field = "name"): void {
  if (name.length === 0) throw invalidArgument(`${field} must not be empty`);
  // A UTF-16 code unit is at most 3 UTF-8 bytes: short names need no byte count.
  if (name.length * 3 > MAX_NAME_BYTES) {
    const bytes = Buffer.byteLength(name, "utf8");
    if (bytes > MAX_NAME_BYTES) throw invalidArgument(`${field} is ${bytes} bytes long; the limit is ${MAX_NAME_BYTES} bytes`);
  }
  if (UNSAFE_CHARACTERS.test(name)) {
    throw invalidArgument(`${field} ${JSON.stringify(name)} contains a control or line-separator character`);
  }
  for (const segment of name.includes("/") ? name.split("/") : [name]) {
    if (segment === "." || segment === "..") {
      throw invalidArgument(`${field} ${JSON.stringify(name)} contains a '${segment}' path segment`);
    }
    if (segment === "") {
      throw invalidArgument(`${field} ${JSON.stringify(name)} has an empty path segment (leading, trailing or double '/')`);
    }
  }
}

/** Team ids end up in cache keys, audit records and database keys. */
const TEAM_ID = /^[A-Za-z0-9_.:@-]{1,256}$/;

export function validateTeamId(teamId: string, field = "team_id"): void {
  if (!TEAM_ID.test(teamId)) {
    throw invalidArgument(`${field} must be 1 to 256 characters of letters, digits and -_.:@`);
  }
}
