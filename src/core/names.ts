import { invalidArgument } from "./errors.js";

/** LiteLLM writes secret references as `os.environ/NAME`; callers may pass them as they are. */
export const ENV_REFERENCE_PREFIX = "os.environ/";

export const MAX_NAME_BYTES = 512;

// C0 and C1 control characters, DEL, and the Unicode line/paragraph separators: they break
// log lines, HTTP paths and back-end URLs.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters names may not hold
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
// Unicode format characters (category Cf: the BOM, zero-width space, joiners, word joiner,
// bidirectional marks and overrides, tag characters) are invisible: a name holding one reads
// like another name in a log, an audit record or an admin's terminal.
const FORMAT_CHARACTER = /\p{Cf}/u;
const BLANK = /^\s+$/u;

export function stripEnvReference(name: string): string {
  return name.startsWith(ENV_REFERENCE_PREFIX) ? name.slice(ENV_REFERENCE_PREFIX.length) : name;
}

/**
 * Checks a secret name before it reaches any back end. `field` names the request field in
 * the error message. Refuses what could escape a path (`.`/`..` segments, empty segments),
 * corrupt logs and URLs (control characters) or pass for another name (invisible characters,
 * nothing but white space).
 */
export function validateSecretName(name: string, field = "name"): void {
  const problem = secretNameProblem(name, field);
  if (problem !== undefined) throw invalidArgument(problem);
}

/** Why validateSecretName would refuse `name`, or undefined. */
export function secretNameProblem(name: string, field = "name"): string | undefined {
  if (name.length === 0) return `${field} must not be empty`;
  // A UTF-16 code unit is at most 3 UTF-8 bytes: short names need no byte count.
  if (name.length * 3 > MAX_NAME_BYTES) {
    const bytes = Buffer.byteLength(name, "utf8");
    if (bytes > MAX_NAME_BYTES) return `${field} is ${bytes} bytes long; the limit is ${MAX_NAME_BYTES} bytes`;
  }
  if (UNSAFE_CHARACTERS.test(name))
    return `${field} ${JSON.stringify(name)} contains a control or line-separator character`;
  if (BLANK.test(name)) return `${field} is made only of white space`;
  const invisible = FORMAT_CHARACTER.exec(name);
  if (invisible) {
    const codePoint = invisible[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    return `${field} ${JSON.stringify(name)} contains an invisible formatting character (U+${codePoint})`;
  }
  for (const segment of name.includes("/") ? name.split("/") : [name]) {
    if (segment === "." || segment === "..")
      return `${field} ${JSON.stringify(name)} contains a '${segment}' path segment`;
    if (segment === "")
      return `${field} ${JSON.stringify(name)} has an empty path segment (leading, trailing or double '/')`;
  }
  return undefined;
}

/** Team ids end up in cache keys, audit records and database keys. */
const TEAM_ID = /^[A-Za-z0-9_.:@-]{1,256}$/;

export function validateTeamId(teamId: string, field = "team_id"): void {
  if (!isValidTeamId(teamId)) {
    throw invalidArgument(`${field} must be 1 to 256 characters of letters, digits and -_.:@`);
  }
}

export function isValidTeamId(teamId: string): boolean {
  return TEAM_ID.test(teamId);
}
