import { randomBytes, randomUUID } from "node:crypto";

/** A login role of one auth method, mounted at `mount` in `namespace`. */
export interface LoginRole {
  method: "approle" | "cert" | "kubernetes" | "jwt";
  /** The role's name (cert role `name`, Kubernetes/JWT `role`); AppRole logs in by roleId. */
  name: string;
  namespace?: string;
  /** Auth mount path; the method's name by default. */
  mount?: string;
  policies: string[];
  ttlSeconds?: number;
  maxTtlSeconds?: number;
  /** AppRole credentials. */
  roleId?: string;
  secretId?: string;
  /** Kubernetes/JWT: the PEM public key the JWT must verify against. */
  publicKeyPem?: string;
  /** JWT: the `aud` claim must contain one of these, when set. */
  boundAudiences?: string[];
  /** Kubernetes: allowed service-account names and namespaces (`*` for any). */
  boundServiceAccountNames?: string[];
  boundServiceAccountNamespaces?: string[];
}

export interface Token {
  id: string;
  accessor: string;
  policies: string[];
  namespace: string;
  displayName: string;
  ttlMs: number;
  issuedAt: number;
  /** Infinity for the root token. */
  expiresAt: number;
  maxExpiresAt: number;
  renewable: boolean;
}

export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

/** Vault's token store: service tokens with a TTL, a max TTL and renew-self. */
export class TokenStore {
  private readonly tokens = new Map<string, Token>();
  /** Set through the admin endpoint: renew-self is refused, as for a token whose lease cannot be extended. */
  renewalRefused = false;

  createRoot(): Token {
    return this.add({
      policies: ["root"],
      namespace: "",
      displayName: "root",
      ttlMs: 0,
      maxTtlMs: 0,
      renewable: false,
    });
  }

  issue(role: LoginRole, namespace: string, displayName: string): Token {
    const ttlMs = (role.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS) * 1000;
    const maxTtlMs = (role.maxTtlSeconds ?? role.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS * 24) * 1000;
    return this.add({
      policies: ["default", ...role.policies],
      namespace,
      displayName,
      ttlMs,
      maxTtlMs,
      renewable: true,
    });
  }

  /** The live token, or undefined (unknown, expired or revoked: Vault answers all three with 403). */
  find(id: string | undefined): Token | undefined {
    if (!id) return undefined;
    const token = this.tokens.get(id);
    if (token && token.expiresAt <= Date.now()) {
      this.tokens.delete(id);
      return undefined;
    }
    return token;
  }

  /** Extends the lease by `increment` (default: the token's TTL), capped at its max TTL. */
  renew(token: Token, incrementSeconds?: number): { ok: true; warning?: string } | { ok: false; error: string } {
    if (!token.renewable || this.renewalRefused) return { ok: false, error: "lease is not renewable" };
    const wanted = incrementSeconds && incrementSeconds > 0 ? incrementSeconds * 1000 : token.ttlMs;
    const now = Date.now();
    const granted = Math.min(wanted, token.maxExpiresAt - now);
    token.expiresAt = now + granted;
    return granted < wanted
      ? {
          ok: true,
          warning: `TTL of "${wanted / 1000}s" exceeded the effective max_ttl of "${Math.round(granted / 1000)}s"; TTL value is capped accordingly`,
        }
      : { ok: true };
  }

  revokeAll(except: string): void {
    for (const id of this.tokens.keys()) if (id !== except) this.tokens.delete(id);
  }

  private add(spec: {
    policies: string[];
    namespace: string;
    displayName: string;
    ttlMs: number;
    maxTtlMs: number;
    renewable: boolean;
  }): Token {
    const now = Date.now();
    const suffix = spec.namespace === "" ? "" : `.${spec.namespace.replace(/\//g, "-")}`;
    const token: Token = {
      id: `hvs.${randomBytes(18).toString("base64url")}${suffix}`,
      accessor: randomUUID(),
      policies: spec.policies,
      namespace: spec.namespace,
      displayName: spec.displayName,
      ttlMs: spec.ttlMs,
      issuedAt: now,
      expiresAt: spec.ttlMs > 0 ? now + spec.ttlMs : Infinity,
      maxExpiresAt: spec.maxTtlMs > 0 ? now + spec.maxTtlMs : Infinity,
      renewable: spec.renewable,
    };
    this.tokens.set(token.id, token);
    return token;
  }
}

export function remainingSeconds(token: Token): number {
  return token.expiresAt === Infinity ? 0 : Math.max(0, Math.round((token.expiresAt - Date.now()) / 1000));
}
