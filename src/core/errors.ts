import { Code } from "@connectrpc/connect";

export { Code };

// Characters a message must not carry raw: C0 and C1 controls and DEL (JSON.stringify leaves C1
// as it is), U+2028 and U+2029 (line ends to JavaScript and many log viewers), and Unicode's
// format characters (category Cf: zero-width characters, the BOM, bidirectional controls, tag
// characters), which hide text or make one name display as another.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it finds
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\p{Cf}]/u;
const UNPRINTABLE_ALL = new RegExp(UNPRINTABLE.source, "gu");

/**
 * A message as callers, logs and audit records may show it: each unprintable character becomes
 * a `\uXXXX` escape (`\u{XXXXX}` above the BMP). Escaping twice changes nothing.
 */
export function printable(message: string): string {
  if (!UNPRINTABLE.test(message)) return message;
  return message.replace(UNPRINTABLE_ALL, (character) => {
    const code = character.codePointAt(0)!;
    return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * An error with a portable status code. The core, drivers and listeners all speak it;
 * each listener turns it into its protocol's status. Messages must never contain a
 * secret value: they name fields and secrets, not contents. They are made printable here,
 * once, whoever wrote them (a name echoed in a message may hold anything a caller sent).
 */
export class ServiceError extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(printable(message));
    this.name = "ServiceError";
  }
}

export const invalidArgument = (message: string) => new ServiceError(Code.InvalidArgument, message);
export const notFound = (message: string) => new ServiceError(Code.NotFound, message);
export const failedPrecondition = (message: string) => new ServiceError(Code.FailedPrecondition, message);
export const permissionDenied = (message: string) => new ServiceError(Code.PermissionDenied, message);
export const unavailable = (message: string) => new ServiceError(Code.Unavailable, message);

const STATUS_NAMES = new Map<number, string>(
  Object.values(Code)
    .filter((value): value is Code => typeof value === "number")
    .map((code) => [code, Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()]),
);

/** The canonical gRPC name of a code, e.g. NOT_FOUND. */
export function statusName(code: Code): string {
  return STATUS_NAMES.get(code) ?? "UNKNOWN";
}
