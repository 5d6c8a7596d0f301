import { Code, ConnectError } from "@connectrpc/connect";

/** A failed call as the operator should read it: the server's message, with its status. */
export function describeError(error: unknown): string {
  const failure = ConnectError.from(error);
  return `${failure.rawMessage} (${Code[failure.code] ?? failure.code})`;
}

/**
 * The server's validation messages by the settings key they name: it joins issues with "; "
 * and starts each with the key's path, e.g. `settings.mount: must not contain '..' segments`.
 * Messages that name no key of `keys` stay in `other`.
 */
export function fieldErrors(message: string, keys: readonly string[]): { byKey: Map<string, string>; other: string[] } {
  const byKey = new Map<string, string>();
  const other: string[] = [];
  for (const issue of message.split("; ")) {
    const match = /^settings\.([A-Za-z0-9_]+)[^:]*: (.*)$/s.exec(issue);
    if (match && keys.includes(match[1]!))
      byKey.set(match[1]!, [byKey.get(match[1]!), match[2]!].filter(Boolean).join("; "));
    else other.push(issue);
  }
  return { byKey, other };
}
