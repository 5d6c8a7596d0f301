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
    if (method !== "POST") return aadError(405, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.");
    return this.issueToken(form());
  }

  /** Whether a bearer token was issued here and has not expired. */
  accepts(token: string): boolean {
    const expires = this.tokens.get(token);
    return expires !== undefined && expires > Date.now();
  }

  private issueToken(form: URLSearchParams): Reply {
    if (form.get("grant_type") !== "client_credentials") {
      return aadError(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
    }
    if (form.get("client_id") !== this.app.clientId) {
      return aadError(400, "unauthorized_client", `AADSTS700016: Application with identifier '${form.get("client_id")}' was not found in the directory.`);
    }
    // A client assertion (certificate or federated workload identity token) is accepted when present;
    // the emulator checks the shared secret, the flow most deployments use.
    const assertion = form.get("client_assertion");
    if (!assertion && form.get("client_secret") !== this.app.clientSecret) {
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
      body: { token_type: "Bearer", expires_in: TOKEN_LIFETIME_SECONDS, ext_expires_in: TOKEN_LIFETIME_SECONDS, access_token: token },
    };
  }
}

function aadError(status: number, error: string, description: string): Reply {
  return {
    status,
    body: { error, error_description: description, error_codes: [Number(/AADSTS(\d+)/.exec(description)?.[1] ?? 0)], timestamp: new Date().toISOString() },
  };
}
