import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { AwsError } from "./aws-error.js";

/** What a valid SigV4 `Authorization` header says about the caller. */
export interface SignedBy {
  accessKeyId: string;
  region: string;
  service: string;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/** Parses the Authorization header, or refuses the request the way AWS does. */
export function parseAuthorization(
  headers: IncomingHttpHeaders,
): SignedBy & { date: string; signedHeaders: string[]; signature: string } {
  const header = headers.authorization;
  if (!header) throw new AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 403);
  const match = AUTHORIZATION.exec(header);
  if (!match)
    throw new AwsError(
      "IncompleteSignatureException",
      "Authorization header requires a valid AWS4-HMAC-SHA256 signature",
      403,
    );
  const [, accessKeyId, date, region, service, signedHeaders, signature] = match as unknown as string[];
  return {
    accessKeyId: accessKeyId!,
    date: date!,
    region: region!,
    service: service!,
    signedHeaders: signedHeaders!.split(";"),
    signature: signature!,
  };
}

/**
 * Recomputes the signature (AWS Signature Version 4, written from the specification rather than
 * with the SDK's signer) and refuses a mismatch with InvalidSignatureException.
 */
export function verifySignature(
  request: { method: string; path: string; headers: IncomingHttpHeaders; body: Buffer },
  parsed: ReturnType<typeof parseAuthorization>,
  secretAccessKey: string,
): void {
  const amzDate = header(request.headers, "x-amz-date");
  if (!amzDate.startsWith(parsed.date))
    throw new AwsError("IncompleteSignatureException", "X-Amz-Date does not match the credential scope date", 403);
  if (!parsed.signedHeaders.includes("host"))
    throw new AwsError("IncompleteSignatureException", "the host header must be signed", 403);
  const [path, query = ""] = request.path.split("?");
  const canonicalQuery = query
    .split("&")
    .filter(Boolean)
    .map((pair) => pair.split("=") as [string, string?])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value = ""]) => `${key}=${value}`)
    .join("&");
  const canonicalHeaders = parsed.signedHeaders
    .map((name) => `${name}:${header(request.headers, name).trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const payloadHash = request.headers["x-amz-content-sha256"]?.toString() ?? sha256(request.body);
  const canonicalRequest = [
    request.method,
    path,
    canonicalQuery,
    canonicalHeaders,
    parsed.signedHeaders.join(";"),
    payloadHash,
  ].join("\n");
  const scope = `${parsed.date}/${parsed.region}/${parsed.service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(Buffer.from(canonicalRequest))].join("\n");
  let key = hmac(`AWS4${secretAccessKey}`, parsed.date);
  for (const part of [parsed.region, parsed.service, "aws4_request"]) key = hmac(key, part);
  const expected = hmac(key, stringToSign);
  const given = Buffer.from(parsed.signature, "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AwsError(
      "InvalidSignatureException",
      "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
      403,
    );
  }
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return Array.isArray(value) ? value.join(",") : (value ?? "");
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data, "utf8").digest();
