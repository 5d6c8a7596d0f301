import { z } from "zod";

// Conjur's REST paths carry the account and the variable id percent-encoded, but `.` and `..`
// are left as they are by encodeURIComponent and then resolved as path steps by URL parsing (here,
// in a proxy, in Conjur): an account of ".." sent the service's API key to
// `/host%2Fsecretgate/authenticate` instead of `/authn/<account>/…`. What reaches Conjur must be
// exactly what was written, so anything a URL or a lenient proxy would rewrite is refused.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters an id may not hold
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029%\\]/u;
const MAX_ID_CHARACTERS = 512;

/**
 * Why `value` cannot be a Conjur account (one segment: no `/`, and no `:`, which separates the
 * account from the kind and id in Conjur's resource ids); undefined when it can.
 */
export function accountProblem(value: string): string | undefined {
  if (value === "") return "must not be empty";
  if (value.length > MAX_ID_CHARACTERS) return `must be at most ${MAX_ID_CHARACTERS} characters`;
  if (UNSAFE_CHARACTERS.test(value)) return "must not contain control characters, '%' or '\\'";
  if (/[/:]/.test(value)) return "must be one name: no '/' or ':'";
  if (value === "." || value === "..") return "must not be '.' or '..'";
  return undefined;
}

/**
 * Why `value` cannot be a Conjur policy branch (`root`, or slash-separated policy ids such as
 * `apps/team-a`): no empty, `.` or `..` segment, no leading or trailing `/`; undefined when it can.
 */
export function policyBranchProblem(value: string): string | undefined {
  if (value === "") return "must not be empty";
  if (value.length > MAX_ID_CHARACTERS) return `must be at most ${MAX_ID_CHARACTERS} characters`;
  if (UNSAFE_CHARACTERS.test(value)) return "must not contain control characters, '%' or '\\'";
  const segments = value.split("/");
  if (segments.some((segment) => segment === ""))
    return "must not have empty segments (a leading, trailing or doubled '/')";
  if (segments.some((segment) => segment === "." || segment === "..")) return "must not have '.' or '..' segments";
  return undefined;
}

const checked = (problem: (value: string) => string | undefined) =>
  z.string().superRefine((value, context) => {
    const found = problem(value);
    if (found) context.addIssue({ code: "custom", message: found });
  });

/** A Conjur account as a setting (a team's `account`). */
export const conjurAccount = checked(accountProblem);
/** A Conjur policy branch as a setting (a team's or the back end's `policy_branch`). */
export const conjurPolicyBranch = checked(policyBranchProblem);
