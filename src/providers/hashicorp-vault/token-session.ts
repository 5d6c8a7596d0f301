import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import { untilAborted } from "../../drivers/until-aborted.js";
import type { AuthMethod } from "./settings.js";
import { VaultApiError, type VaultHttp } from "./vault-http.js";

/** secretgate could not log in to Vault; `cause` says why (a Vault answer, a missing file, …). */
export class VaultLoginError extends Error {
  override name = "VaultLoginError";
  constructor(
    readonly method: string,
    override readonly cause: unknown,
  ) {
    super(`secretgate could not log in to Vault (${method} auth): ${(cause as Error).message}`);
  }
}

/** A credential file named in the environment could not be read: a deployment problem, not Vault's. */
export class CredentialFileError extends Error {
  override name = "CredentialFileError";
}

/** A login or renewal never waits longer than this, whatever the caller's deadline. */
const AUTH_CALL_TIMEOUT_MS = 10_000;
/** Renew when this share of the lease has passed, leaving a third of it for retries. */
const RENEW_AT_FRACTION = 2 / 3;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** After a failed login, calls fail with its error for this long instead of each trying again (no login storms). */
const LOGIN_FAILURE_HOLD_MS = 1_000;
/**
 * A token this close to its expiry (or a tenth of its lease, if shorter) is not handed out; a fresh login is made
 * instead.
 */
const EXPIRY_MARGIN_MS = 500;

interface HeldToken {
  token: string;
  expiresAt: number;
  /** The lease the login granted; a renewal that grants much less means max TTL is near. */
  loginLeaseMs: number;
}

/**
 * The Vault token secretgate uses, kept alive for the life of the process: logs in with the
 * configured method, renews the token (auth/token/renew-self) before its lease ends, and logs
 * in afresh when renewal is refused or the token's max TTL is near. A static HCP_VAULT_TOKEN is
 * used as given: it belongs to whoever issued it.
 */
export class TokenSession {
  private held: HeldToken | undefined;
  private pendingLogin: Promise<HeldToken> | undefined;
  private lastLoginFailure: { error: VaultLoginError; at: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly http: VaultHttp,
    private readonly method: AuthMethod,
    private readonly loginNamespace: string,
    private readonly logger: Logger,
  ) {}

  get canLogin(): boolean {
    return this.method.kind !== "token";
  }

  async token(signal: AbortSignal): Promise<string> {
    if (this.method.kind === "token") return this.method.token;
    const held = this.held;
    if (held && held.expiresAt - Math.min(EXPIRY_MARGIN_MS, held.loginLeaseMs / 10) > Date.now()) return held.token;
    return (await untilAborted(this.login(), signal)).token;
  }

  /**
   * After a 403 on a data call: if the token used was the problem (expired or revoked, which
   * Vault also answers with 403), log in once more and return the new token. Undefined when
   * the token is fine and the 403 was the policy speaking.
   */
  async replaceRejected(rejected: string, signal: AbortSignal): Promise<string | undefined> {
    if (!this.canLogin) return undefined;
    if (this.held && this.held.token !== rejected) return this.held.token;
    try {
      await this.http.send(
        {
          method: "GET",
          path: "auth/token/lookup-self",
          token: rejected,
          namespace: this.loginNamespace,
          operation: "token lookup-self",
        },
        signal,
      );
      return undefined;
    } catch (error) {
      if (!(error instanceof VaultApiError && error.status === 403)) return undefined;
    }
    if (this.held?.token === rejected) this.held = undefined;
    return (await untilAborted(this.login(), signal)).token;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** One login at a time; concurrent callers share it. */
  private login(): Promise<HeldToken> {
    const failure = this.lastLoginFailure;
    if (failure && Date.now() - failure.at < LOGIN_FAILURE_HOLD_MS) return Promise.reject(failure.error);
    this.pendingLogin ??= this.loginOnce().finally(() => {
      this.pendingLogin = undefined;
    });
    return this.pendingLogin;
  }

  private async loginOnce(): Promise<HeldToken> {
    if (this.method.kind === "token") throw new Error("a static token has no login");
    const method = this.method;
    // biome-ignore lint/suspicious/noExplicitAny: the login answer's `auth` block, each field checked where it is read
    let auth: any;
    try {
      const { path, body, description } = await loginRequest(method);
      const signal = AbortSignal.timeout(AUTH_CALL_TIMEOUT_MS);
      const response = await this.http.send(
        { method: "POST", path, body, namespace: this.loginNamespace, operation: description },
        signal,
      );
      auth = response.body?.auth;
      if (typeof auth?.client_token !== "string")
        throw new VaultApiError(description, response.status, ["the answer held no auth.client_token"]);
    } catch (error) {
      const failure = new VaultLoginError(method.kind, error);
      this.lastLoginFailure = { error: failure, at: Date.now() };
      throw failure;
    }
    this.lastLoginFailure = undefined;
    const leaseMs = Number(auth.lease_duration ?? 0) * 1000;
    const held: HeldToken = {
      token: auth.client_token,
      expiresAt: leaseMs > 0 ? Date.now() + leaseMs : Infinity,
      loginLeaseMs: leaseMs,
    };
    this.held = held;
    this.logger.info(
      { method: this.method.kind, leaseSeconds: leaseMs / 1000, renewable: auth.renewable === true },
      "logged in to Vault",
    );
    if (leaseMs > 0) this.schedule(leaseMs, auth.renewable === true);
    return held;
  }

  private schedule(leaseMs: number, renewable: boolean): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    // setTimeout fires at once for delays past 2^31-1 ms (~24.8 days); Vault leases can be longer.
    const delay = Math.min(leaseMs * RENEW_AT_FRACTION, MAX_TIMER_MS);
    this.timer = setTimeout(() => void (renewable ? this.renew() : this.relogin("the token is not renewable")), delay);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const held = this.held;
    if (!held || this.closed) return;
    let leaseMs: number;
    let renewable: boolean;
    try {
      const response = await this.http.send(
        {
          method: "POST",
          path: "auth/token/renew-self",
          token: held.token,
          namespace: this.loginNamespace,
          body: {},
          operation: "token renew-self",
        },
        AbortSignal.timeout(AUTH_CALL_TIMEOUT_MS),
      );
      leaseMs = Number(response.body?.auth?.lease_duration ?? 0) * 1000;
      renewable = response.body?.auth?.renewable === true;
    } catch (error) {
      return this.relogin(`renewal was refused (${(error as Error).message})`);
    }
    // Vault caps a renewal at the token's max TTL: a short grant means the end is near.
    if (leaseMs < held.loginLeaseMs / 2) return this.relogin("the token's max TTL is near");
    if (this.held === held) {
      held.expiresAt = Date.now() + leaseMs;
      this.schedule(leaseMs, renewable);
    }
    this.logger.debug({ leaseSeconds: leaseMs / 1000 }, "renewed the Vault token");
  }

  private async relogin(reason: string): Promise<void> {
    if (this.closed) return;
    this.logger.info({ reason }, "logging in to Vault again");
    try {
      await this.login();
    } catch (error) {
      // The next call logs in again when the old token has expired.
      this.logger.warn({ error: (error as Error).message }, "Vault login failed");
    }
  }
}

async function loginRequest(
  method: Exclude<AuthMethod, { kind: "token" }>,
): Promise<{ path: string; body: Record<string, string>; description: string }> {
  switch (method.kind) {
    case "approle":
      return {
        path: `auth/${method.mount}/login`,
        body: { role_id: method.roleId, secret_id: method.secretId },
        description: `AppRole login (auth/${method.mount})`,
      };
    case "cert":
      return {
        path: `auth/${method.mount}/login`,
        body: method.role ? { name: method.role } : {},
        description: "TLS certificate login (auth/cert)",
      };
    case "kubernetes":
    case "jwt": {
      const label = method.kind === "kubernetes" ? "Kubernetes" : "JWT";
      // Read at every login: Kubernetes rotates projected service-account tokens.
      const jwt = await readFile(method.jwtFile, "utf8").then(
        (text) => text.trim(),
        (error: NodeJS.ErrnoException) => {
          const variable = method.kind === "kubernetes" ? "HCP_VAULT_K8S_JWT_PATH" : "HCP_VAULT_JWT_PATH";
          throw new CredentialFileError(
            `cannot read the ${label} token file ${method.jwtFile} (${variable}): ${error.code ?? error.message}`,
          );
        },
      );
      return {
        path: `auth/${method.mount}/login`,
        body: { role: method.role, jwt },
        description: `${label} login (auth/${method.mount})`,
      };
    }
  }
}
