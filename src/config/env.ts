/** The process environment, or a test's stand-in for it. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The variable's value, looked up as an own property only: callers pass names that come from
 * requests, and `env["constructor"]` or `env["__proto__"]` would otherwise answer with
 * Object.prototype's members instead of "not set".
 */
export function envValue(env: Env, name: string): string | undefined {
  if (!Object.hasOwn(env, name)) return undefined;
  const value = env[name];
  return typeof value === "string" ? value : undefined;
}
