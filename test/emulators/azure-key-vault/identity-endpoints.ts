import { randomBytes } from "node:crypto";

/** The app registration the emulator's Entra ID endpoint accepts. */
export interface EmulatedApp {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

export const TOKEN_LIFETIME_SECONDS = 3600;
export const VAULT_SCOPE = "https://vault.azure.net/.default";

type Reply = { status: number; body: unknown };

/**
 * The slice of Entra ID (login.microsoftonline.com) that MSAL talks to for the client
 * credentials flow: OpenID metadata and the v2.0 token endpoint (instance discovery is
 * skipped for a loopback authority). Tokens
 * it issues are opaque strings the vault side then accepts as bearer tokens.
 */
export class IdentityEndpoints {
  private readonly tokens = new Map<string, number>();

  constructor(
    private readonly app: EmulatedApp,
    private readonly baseUrl: () => string,
  ) {}

  /** Answers an identity request, or returns undefined when the path is not one of them. */
  handle(method: string, path: string, form: () => URLSearchParams): Reply | undefined {
    const base = this.baseUrl();
    const tenantPath = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/.exec(path);
    if (!tenantPath) return undefined;
    const [, tenant, endpoint] = tenantPath;
    if (tenant !== this.app.tenantId && tenant !== "organizations" && tenant !== "common") {
      return aadError(400, "invalid_tenant", `AADSTS90002: Tenant '${tenant}' not found.`);
    }
    if (endpoint!.startsWith("v2.0") && method === "GET") {
      return {
        status: 200,
        body: {
          token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
          authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
          device_authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/devicecode`,
          end_session_endpoint: `${base}/${tenant}/oauth2/v2.0/logout`,
          jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
          issuer: `${base}/${tenant}/v2.0`,
          response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
          token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
          scopes_supported: ["openid", "profile", "email", "offline_access"],
          tenant_region_scope: "EU",
        },
      };
    }
    if (method !== "POST")
      return aadError(405, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.");
    return this.issueToken(form());
  }

  /** Whether a bearer token was issued here and has not expired. */
  accepts(token: string): boolean {
    const expires = this.tokens.get(token);
    return expires !== undefined && expires > Date.now();
  }

  /**
   * Checks a client assertion's claims (not its signature: the emulator has no registered
   * certificate or federation trust): a certificate assertion is issued by the client itself for
   * the token endpoint; a federated workload identity token is for Entra ID's exchange audience.
   */
  private assertionProblem(assertion: string, type: string | null): string | undefined {
    if (type !== "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
      return "AADSTS50027: client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.";
    }
    let claims: { iss?: string; sub?: string; aud?: string | string[] };
    try {
      claims = JSON.parse(Buffer.from(assertion.split(".")[1] ?? "", "base64url").toString("utf8")) as typeof claims;
    } catch {
      return "AADSTS50027: Invalid JWT token. The token is malformed.";
    }
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (claims.iss === this.app.clientId) {
      if (claims.sub !== this.app.clientId || !audiences.some((aud) => aud?.endsWith("/oauth2/v2.0/token"))) {
        return "AADSTS700023: Client assertion audience or subject is invalid.";
      }
      return undefined;
    }
    if (!audiences.includes("api://AzureADTokenExchange")) {
      return "AADSTS700212: No matching federated identity record found for presented assertion audience.";
    }
    return undefined;
  }

  private issueToken(form: URLSearchParams): Reply {
    if (form.get("grant_type") !== "client_credentials") {
      return aadError(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
    }
    if (form.get("client_id") !== this.app.clientId) {
      return aadError(
        400,
        "unauthorized_client",
        `AADSTS700016: Application with identifier '${form.get("client_id")}' was not found in the directory.`,
      );
    }
    const assertion = form.get("client_assertion");
    if (assertion) {
      const problem = this.assertionProblem(assertion, form.get("client_assertion_type"));
      if (problem) return aadError(401, "invalid_client", problem);
    } else if (form.get("client_secret") !== this.app.clientSecret) {
      return aadError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
    }
    const scope = form.get("scope") ?? "";
    if (!scope.split(" ").includes(VAULT_SCOPE)) {
      return aadError(400, "invalid_scope", `AADSTS70011: The provided value for scope ${scope} is not valid.`);
    }
    const token = randomBytes(24).toString("base64url");
    this.tokens.set(token, Date.now() + TOKEN_LIFETIME_SECONDS * 1000);
    return {
      status: 200,
      body: {
        token_type: "Bearer",
        expires_in: TOKEN_LIFETIME_SECONDS,
        ext_expires_in: TOKEN_LIFETIME_SECONDS,
        access_token: token,
      },
    };
  }
}

function aadError(status: number, error: string, description: string): Reply {
  return {
    status,
    body: {
      error,
      error_description: description,
      error_codes: [Number(/AADSTS(\d+)/.exec(description)?.[1] ?? 0)],
      timestamp: new Date().toISOString(),
    },
  };
}
