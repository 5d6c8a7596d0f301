import { LocationClients } from "../../drivers/location-clients.js";
import { untilAborted } from "../../drivers/until-aborted.js";
import type { ConjurResponse, ConjurTransport } from "./http.js";
import { ConjurHttpError } from "./http.js";

/** Tokens are replaced after this share of their lifetime (about 6 of Conjur's 8 minutes). */
const REFRESH_AT_SHARE = 0.75;
const DEFAULT_TOKEN_LIFETIME_MS = 8 * 60 * 1000;
const AUTHN_TIMEOUT_MS = 10_000;

interface CachedToken {
  header: string;
  refreshAt: number;
}

/**
 * Conjur access tokens, one per account: fetched with the API key, reused until three quarters
 * of their life, fetched once per account at a time, and replaced at once when Conjur answers
 * 401 (revoked or expired early) — the call is then retried once with the new token. Tokens are
 * kept for at most MAX_LOCATIONS accounts (teams choose the account).
 */
export class ConjurSession {
  private readonly tokens: LocationClients<CachedToken>;
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly transport: ConjurTransport,
    private readonly login: string,
    private readonly apiKey: string,
    options: { maxAccounts?: number } = {},
  ) {
    this.tokens = new LocationClients({ max: options.maxAccounts });
  }

  /** Runs an authenticated call, re-authenticating once on 401. */
  async call(
    account: string,
    signal: AbortSignal,
    send: (authorization: string) => Promise<ConjurResponse>,
  ): Promise<ConjurResponse> {
    const token = await this.token(account, signal);
    const response = await send(token.header);
    if (response.status !== 401) return response;
    this.tokens.delete(account, token);
    return send((await this.token(account, signal)).header);
  }

  private token(account: string, signal: AbortSignal): Promise<CachedToken> {
    const cached = this.tokens.find(account);
    if (cached && cached.refreshAt > Date.now()) return Promise.resolve(cached);
    let pending = this.pending.get(account);
    if (!pending) {
      // Shared by every caller waiting for this account, so bounded on its own rather than
      // by the first caller's deadline; each caller still stops waiting at its own.
      pending = this.authenticate(account, AbortSignal.timeout(AUTHN_TIMEOUT_MS)).finally(() =>
        this.pending.delete(account),
      );
      this.pending.set(account, pending);
    }
    return untilAborted(pending, signal);
  }

  private async authenticate(account: string, signal: AbortSignal): Promise<CachedToken> {
    const target = `${account}:${this.login}`;
    const response = await this.transport.send(
      `/authn/${encodeURIComponent(account)}/${encodeURIComponent(this.login)}/authenticate`,
      {
        method: "POST",
        headers: { "Content-Type": "text/plain", "Accept-Encoding": "base64" },
        body: this.apiKey,
        signal,
      },
    );
    if (response.status !== 200) throw ConjurHttpError.from(response, "authn", target);
    const base64 = response.body.toString("utf8").trim();
    const token = { header: `Token token="${base64}"`, refreshAt: Date.now() + REFRESH_AT_SHARE * lifetimeMs(base64) };
    this.tokens.set(account, token);
    return token;
  }
}

/** The token's own lifetime (payload `exp` − `iat`), else Conjur's usual eight minutes. */
function lifetimeMs(base64Token: string): number {
  try {
    const token = JSON.parse(Buffer.from(base64Token, "base64").toString("utf8")) as { payload?: string };
    const claims = JSON.parse(Buffer.from(token.payload ?? "", "base64url").toString("utf8")) as {
      iat?: number;
      exp?: number;
    };
    if (typeof claims.iat === "number" && typeof claims.exp === "number" && claims.exp > claims.iat) {
      return (claims.exp - claims.iat) * 1000;
    }
  } catch {
    // Older tokens carry no readable claims; fall back to the documented lifetime.
  }
  return DEFAULT_TOKEN_LIFETIME_MS;
}
