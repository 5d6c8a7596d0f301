/** One path rule of a Vault ACL policy (HCL `path "..." { capabilities = [...] }`). */
export interface PolicyRule {
  path: string;
  capabilities: Array<"create" | "read" | "update" | "delete" | "list" | "sudo" | "deny">;
}

export type Capability = Exclude<PolicyRule["capabilities"][number], "deny" | "sudo">;

/**
 * Vault's path matching: a trailing `*` is a prefix match, `+` matches one segment. Vault
 * picks the most specific rule; the emulator grants the union of matching rules unless one
 * of them says `deny`, which is the same answer for the policies tests write.
 */
export function allowed(rules: readonly PolicyRule[], path: string, capability: Capability): boolean {
  const matching = rules.filter((rule) => matches(rule.path, path));
  if (matching.some((rule) => rule.capabilities.includes("deny"))) return false;
  return matching.some((rule) => rule.capabilities.includes(capability));
}

function matches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith("*");
  const patternSegments = (glob ? pattern.slice(0, -1) : pattern).split("/");
  const pathSegments = path.split("/");
  for (let index = 0; index < patternSegments.length; index += 1) {
    const expected = patternSegments[index]!;
    const actual = pathSegments[index];
    if (actual === undefined) return false;
    const last = index === patternSegments.length - 1;
    if (expected === "+") continue;
    if (last && glob) return actual.startsWith(expected);
    if (expected !== actual) return false;
  }
  return glob || patternSegments.length === pathSegments.length;
}
