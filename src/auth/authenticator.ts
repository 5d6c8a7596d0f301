import { hash } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { ConfigError } from "../config/config-error.js";
import type { AuthSettings } from "../config/schema.js";
import { Code, ServiceError } from "../core/errors.js";
import { loadOrCreateAdminTokenHash } from "./admin-token.js";
import { Identity } from "./identity.js";
import { parseSubjectAltNames, sanKey } from "./subject-alt-names.js";
import { MIN_TOKEN_CHARACTERS, TOKEN_LENGTH_RULE } from "./token-length.js";

/** What a listener saw of the caller. */
export interface Credentials {
  /** The `authorization` header / metadata value. */
  authorization?: string | undefined;
  /** The verified client certificate, when mutual TLS is on and the client sent one. */
  peerCertificate?: PeerCertificate | undefined;
}

interface TokenIdentity {
  digest: Buffer;
  identity: Identity;
}

interface CertificateIdentity {
  cn?: string | undefined;
  /** The configured SAN as sanKey spells it. */
  san?: string | undefined;
  identity: Identity;
}

const sha256 = (token: string) => hash("sha256", token, "buffer");
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * Maps credentials to an identity: a bearer token by its SHA-256 digest (the time a lookup
 * takes can say something about a digest at most, which does not help guess a token), or a
 * client certificate (verified against the configured CA by the TLS layer) by its CN or a SAN
 * of the configured type.
 * Anything else is UNAUTHENTICATED.
 */
export class Authenticator {
  /** Identities by the hex SHA-256 digest of their token; the first configured wins. */
  private readonly byDigest = new Map<string, Identity>();

  /** Every identity a caller can be, in configuration order (ListCallers). */
  readonly identities: readonly Identity[];

  private constructor(
    tokens: readonly TokenIdentity[],
    private readonly certificates: readonly CertificateIdentity[],
    private readonly anonymous: Identity | undefined,
  ) {
    for (const { digest, identity } of tokens) {
      const key = digest.toString("hex");
      if (!this.byDigest.has(key)) this.byDigest.set(key, identity);
    }
    this.identities = anonymous
      ? [anonymous]
      : [...tokens.map((token) => token.identity), ...certificates.map((certificate) => certificate.identity)];
  }

  /**
   * Builds the authenticator from `secretgate.auth`, SECRETGATE_ADMIN_TOKEN and the data
   * directory. With nothing configured it makes the development admin token; `newAdminToken`
   * is then the token to print once.
   */
  static create(options: {
    settings: AuthSettings;
    adminTokenEnv: string | undefined;
    dataDir: string;
    insecureNoAuth: boolean;
  }): { authenticator: Authenticator; mode: "tokens" | "generated-admin-token" | "none"; newAdminToken?: string } {
    // The admin token holds every right: it follows the configured tokens' length rule (exit 2), even unused.
    if (options.adminTokenEnv && options.adminTokenEnv.length < MIN_TOKEN_CHARACTERS) {
      throw new ConfigError(`SECRETGATE_ADMIN_TOKEN ${TOKEN_LENGTH_RULE}, like secretgate.auth.tokens[].token`);
    }
    if (options.insecureNoAuth) {
      return { authenticator: new Authenticator([], [], Identity.unrestricted("anonymous")), mode: "none" };
    }
    const tokens: TokenIdentity[] = options.settings.tokens.map((entry) => ({
      digest: entry.token !== undefined ? sha256(entry.token) : Buffer.from(entry.token_sha256!, "hex"),
      identity: new Identity(entry.name, entry.rules, { kind: "token" }),
    }));
    const certificates: CertificateIdentity[] = options.settings.mtls_identities.map((entry) => ({
      cn: entry.cn,
      san: entry.san && sanKey(entry.san),
      identity: new Identity(entry.name, entry.rules, {
        kind: "mtls",
        certificate: entry.cn !== undefined ? `CN=${entry.cn}` : `SAN ${sanKey(entry.san!)}`,
      }),
    }));
    if (options.adminTokenEnv)
      tokens.push({ digest: sha256(options.adminTokenEnv), identity: Identity.unrestricted("admin") });
    if (tokens.length > 0 || certificates.length > 0) {
      return { authenticator: new Authenticator(tokens, certificates, undefined), mode: "tokens" };
    }
    const generated = loadOrCreateAdminTokenHash(options.dataDir, sha256);
    tokens.push({ digest: generated.digest, identity: Identity.unrestricted("admin") });
    return {
      authenticator: new Authenticator(tokens, [], undefined),
      mode: "generated-admin-token",
      ...(generated.newToken ? { newAdminToken: generated.newToken } : {}),
    };
  }

  authenticate(credentials: Credentials): Identity {
    if (this.anonymous) return this.anonymous;
    if (credentials.authorization !== undefined) {
      const match = BEARER.exec(credentials.authorization);
      if (!match) throw unauthenticated("the authorization header must be `Bearer <token>`");
      const found = this.byDigest.get(hash("sha256", match[1]!, "hex"));
      if (found) return found;
      throw unauthenticated("the bearer token is not valid");
    }
    const certificate = credentials.peerCertificate;
    if (certificate && Object.keys(certificate).length > 0) {
      const cn = [certificate.subject?.CN].flat()[0];
      const sans = new Set(parseSubjectAltNames(certificate.subjectaltname ?? "").map(sanKey));
      const entry = this.certificates.find(
        (candidate) =>
          (candidate.cn !== undefined && candidate.cn === cn) ||
          (candidate.san !== undefined && sans.has(candidate.san)),
      );
      if (entry) return entry.identity;
      throw unauthenticated(`no identity is configured for the client certificate ${cn ? `CN=${cn}` : "presented"}`);
    }
    throw unauthenticated("missing credentials: send `authorization: Bearer <token>` or a client certificate");
  }
}

function unauthenticated(message: string): ServiceError {
  return new ServiceError(Code.Unauthenticated, message);
}
