import { isIP, isIPv6, SocketAddress } from "node:net";

/** The subject alternative name types an mTLS identity can be bound to. */
export type SanType = "dns" | "uri" | "email" | "ip";

export interface SubjectAltName {
  type: SanType;
  value: string;
}

/** How Node's `subjectaltname` spells the types secretgate matches on; other types are skipped. */
const NODE_TYPE_NAMES: ReadonlyMap<string, SanType> = new Map([
  ["DNS", "dns"],
  ["URI", "uri"],
  ["email", "email"],
  ["IP Address", "ip"],
]);

// One entry of Node's `subjectaltname`: a type, a colon, and the value, which Node writes as a
// JSON string when it holds a comma, quote, backslash, apostrophe or a byte outside printable
// ASCII (a comma as \u002c), and as it is otherwise. Entries are separated by ", ". The JSON
// string pattern is the one node:tls's checkServerIdentity splits the same string with.
const NOT_IA5 = "value must be one or more printable ASCII characters without spaces, as in a certificate";

// biome-ignore lint/suspicious/noControlCharactersInRegex: a JSON string holds no raw control character (RFC 8259)
const ENTRY = /([^:,"]+):("(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"|[^,"]*)(?:, |$)/y;

/**
 * The SANs of a verified client certificate, typed, from the `subjectaltname` string Node gives
 * for it (`DNS:a, URI:b, email:c, IP Address:1.2.3.4`). A string that does not parse as a whole
 * yields no names at all: a certificate is never matched on part of a list it could not read.
 */
export function parseSubjectAltNames(text: string): SubjectAltName[] {
  const names: SubjectAltName[] = [];
  ENTRY.lastIndex = 0;
  while (ENTRY.lastIndex < text.length) {
    const match = ENTRY.exec(text);
    if (!match) return [];
    const type = NODE_TYPE_NAMES.get(match[1]!);
    if (type === undefined) continue;
    const raw = match[2]!;
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    if (type !== "ip") names.push({ type, value });
    else if (isIP(value) !== 0) names.push({ type, value: canonicalIp(value) });
  }
  return names;
}

/** A SAN as a comparable key: DNS names compare case-insensitively, addresses in canonical form. */
export function sanKey(san: SubjectAltName): string {
  return `${san.type}:${san.type === "dns" ? san.value.toLowerCase() : san.value}`;
}

const TYPED = /^(uri|dns|email|ip):(.*)$/is;
// DNS names, URIs and email addresses are IA5String (ASCII) in a certificate.
const IA5_WITHOUT_SPACES = /^[\x21-\x7e]+$/;

/**
 * A configured `san`: `uri:`, `dns:`, `email:` or `ip:` and the value, so that a certificate's
 * `DNS:spiffe://corp/x` can never pass for the `URI:spiffe://corp/x` an identity names. Returns
 * why it is refused instead, showing the typed form for an untyped value.
 */
export function parseConfiguredSan(text: string): SubjectAltName | { problem: string } {
  const typed = TYPED.exec(text);
  if (!typed) {
    return {
      problem:
        `${JSON.stringify(text)} does not say which kind of name it is: write ` +
        `"${guessType(text)}:${text}" (one of uri:, dns:, email:, ip:)`,
    };
  }
  const type = typed[1]!.toLowerCase() as SanType;
  const value = typed[2]!;
  if (type === "ip") {
    return isIP(value) !== 0
      ? { type, value: canonicalIp(value) }
      : { problem: `${JSON.stringify(value)} is not an IPv4 or IPv6 address` };
  }
  return IA5_WITHOUT_SPACES.test(value) ? { type, value } : { problem: `the ${type}: ${NOT_IA5}` };
}

function guessType(text: string): SanType {
  if (isIP(text) !== 0) return "ip";
  if (text.includes("://")) return "uri";
  return text.includes("@") ? "email" : "dns";
}

/** One spelling per address: Node writes IPv6 as eight upper-case groups, people write `2001:db8::1`. */
function canonicalIp(address: string): string {
  return isIPv6(address) ? new SocketAddress({ address, family: "ipv6" }).address : address;
}
