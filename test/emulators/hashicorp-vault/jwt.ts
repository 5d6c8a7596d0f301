import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";

const base64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

/** Signs claims as a compact JWS (RS256 for RSA keys, ES256 for P-256 keys): what Kubernetes and OIDC issuers hand out. */
export function signJwt(claims: Record<string, unknown>, privateKeyPem: string): string {
  const key = createPrivateKey(privateKeyPem);
  const alg = key.asymmetricKeyType === "ec" ? "ES256" : "RS256";
  const input = `${base64url(JSON.stringify({ alg, typ: "JWT" }))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  return `${input}.${base64url(signature)}`;
}

/** Verifies signature and expiry against the PEM public key a role was configured with; the claims, or a reason. */
export function verifyJwt(token: string, publicKeyPem: string): { claims: Record<string, any> } | { problem: string } {
  const parts = token.split(".");
  if (parts.length !== 3) return { problem: "token is not a compact JWS" };
  const [header, payload, signature] = parts as [string, string, string];
  let claims: Record<string, any>;
  let alg: string;
  try {
    alg = JSON.parse(Buffer.from(header, "base64url").toString("utf8")).alg;
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return { problem: "token header or claims are not JSON" };
  }
  const key: KeyObject = createPublicKey(publicKeyPem);
  const expected = key.asymmetricKeyType === "ec" ? "ES256" : "RS256";
  if (alg !== expected) return { problem: `unexpected signing algorithm ${alg}` };
  const valid = verify(
    "sha256",
    Buffer.from(`${header}.${payload}`),
    { key, dsaEncoding: "ieee-p1363" },
    Buffer.from(signature, "base64url"),
  );
  if (!valid) return { problem: "failed to verify id token signature" };
  if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) return { problem: "token is expired" };
  return { claims };
}
