import { type Env, envValue } from "../../config/env.js";

/** LiteLLM v2's bulk form: `LITELLM_SECRET_AWS_KMS_<NAME>` holds the ciphertext of `<NAME>`. */
export const BULK_PREFIX = "LITELLM_SECRET_AWS_KMS_";
/** LiteLLM's marker on a value that is AWS KMS ciphertext. */
export const VALUE_PREFIX = "aws_kms/";

/** Where a name's ciphertext sits in the environment. */
export interface Ciphertext {
  variable: string;
  base64: string;
  /**
   * The environment says this is ciphertext — a bulk variable or an `aws_kms/` value, which
   * LiteLLM decrypts and ListHosted lists — rather than whatever a variable of that name holds.
   */
  marked: boolean;
}

/**
 * The ciphertext for a name: from its bulk variable when there is one (LiteLLM matches the
 * prefix in any case), else from the name's own variable; an `aws_kms/` marker is dropped.
 */
export function findCiphertext(name: string, env: Env): Ciphertext | undefined {
  const bulk = Object.keys(env).find(
    (variable) =>
      variable.slice(BULK_PREFIX.length) === name &&
      variable.slice(0, BULK_PREFIX.length).toUpperCase() === BULK_PREFIX,
  );
  const variable = bulk ?? name;
  const value = envValue(env, variable);
  if (value === undefined) return undefined;
  if (bulk !== undefined)
    return {
      variable,
      base64: value.startsWith(VALUE_PREFIX) ? value.slice(VALUE_PREFIX.length) : value,
      marked: true,
    };
  if (value.startsWith(VALUE_PREFIX)) return { variable, base64: value.slice(VALUE_PREFIX.length), marked: true };
  return { variable, base64: value, marked: false };
}

/** The names the environment holds ciphertext for in either bulk form. */
export function bulkNames(env: Env): string[] {
  const names = new Set<string>();
  for (const [variable, value] of Object.entries(env)) {
    if (variable.toUpperCase().startsWith(BULK_PREFIX) && variable.length > BULK_PREFIX.length) {
      names.add(variable.slice(BULK_PREFIX.length));
    } else if (value?.startsWith(VALUE_PREFIX)) {
      names.add(variable);
    }
  }
  return [...names].sort();
}
