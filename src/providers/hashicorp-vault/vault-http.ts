import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { ConfigError } from "../../config/config-error.js";

export interface VaultRequest {
  method: "GET" | "POST" | "DELETE";
  /** Path after `/v1/`, already percent-encoded. */
  path: string;
  token?: string;
  /** X-Vault-Namespace: only login and token-management calls carry it. */
  namespace?: string;
  body?: unknown;
  /** A short description of the call for error messages (never a value). */
  operation: string;
}

export interface VaultResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: Vault's JSON differs by endpoint; callers check what they read
  body: any;
  retryAfterMs?: number;
}

/** A non-2xx answer from Vault, with its `errors` list. Never holds request bodies. */
export class VaultApiError extends Error {
  override name = "VaultApiError";
  constructor(
    readonly operation: string,
    readonly status: number,
    readonly errors: string[],
    readonly retryAfterMs?: number,
  ) {
    super(`Vault answered ${operation} with HTTP ${status}${errors.length > 0 ? `: ${errors.join("; ")}` : ""}`);
  }
}

// Vault's own client retries 412 (stale read on a performance standby) and 5xx except 501; so
// do we, plus 429 from rate-limit quotas. A few attempts only: a storm ends in an error quickly.
const MAX_ATTEMPTS = 3;
const FIRST_BACKOFF_MS = 100;
/** The longest wait between attempts, whatever Retry-After asks for. */
const MAX_BACKOFF_MS = 2_000;
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

const isRetryableStatus = (status: number) => status === 412 || status === 429 || (status >= 500 && status !== 501);

/**
 * Vault's HTTP API over node:http(s). We talk to it directly rather than through node-vault:
 * node-vault 0.12 sends one global X-Vault-Namespace on every call (we need it on login only),
 * cannot be aborted by the caller's deadline (no AbortSignal), and drops Retry-After.
 */
export class VaultHttp {
  private readonly agent: http.Agent;
  private readonly base: URL;

  constructor(address: URL, tls: { caFile?: string; certFile?: string; keyFile?: string }) {
    this.base = address;
    if (address.protocol === "https:") {
      this.agent = new https.Agent({
        keepAlive: true,
        ...(tls.caFile ? { ca: readSetupFile(tls.caFile, "HCP_VAULT_CACERT") } : {}),
        // Cert auth: the client certificate is presented on the TLS handshake of every call;
        // Vault only looks at it on auth/cert/login.
        ...(tls.certFile && tls.keyFile
          ? {
              cert: readSetupFile(tls.certFile, "HCP_VAULT_CLIENT_CERT"),
              key: readSetupFile(tls.keyFile, "HCP_VAULT_CLIENT_KEY"),
            }
          : {}),
      });
    } else {
      if (tls.certFile)
        throw new ConfigError("TLS certificate auth (HCP_VAULT_CLIENT_CERT) needs an https:// HCP_VAULT_ADDR");
      this.agent = new http.Agent({ keepAlive: true });
    }
  }

  /** One call with bounded retries on transient answers and connection failures. */
  async send(request: VaultRequest, signal: AbortSignal): Promise<VaultResponse> {
    for (let attempt = 1; ; attempt += 1) {
      let failure: unknown;
      try {
        const response = await this.sendOnce(request, signal);
        if (response.status < 400) return response;
        failure = toApiError(request.operation, response);
        if (!isRetryableStatus(response.status)) throw failure;
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof VaultApiError && !isRetryableStatus(error.status)) throw error;
        failure = error;
      }
      if (attempt >= MAX_ATTEMPTS) throw failure;
      const hinted = failure instanceof VaultApiError ? failure.retryAfterMs : undefined;
      const backoff = FIRST_BACKOFF_MS * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      await sleep(Math.min(hinted ?? backoff, MAX_BACKOFF_MS), undefined, { signal }).catch(() => {
        throw signal.reason;
      });
    }
  }

  private sendOnce(request: VaultRequest, signal: AbortSignal): Promise<VaultResponse> {
    const url = new URL(`/v1/${request.path}`, this.base);
    const headers: Record<string, string> = { accept: "application/json" };
    if (request.token) headers["x-vault-token"] = request.token;
    if (request.namespace) headers["x-vault-namespace"] = request.namespace;
    const payload = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body), "utf8");
    if (payload) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(payload.length);
    }
    const transport = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const outgoing = transport.request(
        url,
        { method: request.method, headers, agent: this.agent, signal },
        (incoming) => {
          const chunks: Buffer[] = [];
          let size = 0;
          incoming.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES)
              incoming.destroy(
                new Error(`Vault's answer to ${request.operation} exceeded ${MAX_RESPONSE_BYTES} bytes`),
              );
            else chunks.push(chunk);
          });
          incoming.on("error", (error) => reject(signal.aborted ? signal.reason : error));
          incoming.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let body: unknown;
            try {
              body = text === "" ? undefined : JSON.parse(text);
            } catch {
              body = undefined;
            }
            const retryAfter = Number(incoming.headers["retry-after"]);
            resolve({
              status: incoming.statusCode ?? 0,
              body,
              ...(retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
            });
          });
        },
      );
      outgoing.on("error", (error) => reject(signal.aborted ? signal.reason : error));
      outgoing.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function readSetupFile(path: string, variable: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(
      `${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
}

function toApiError(operation: string, response: VaultResponse): VaultApiError {
  // Vault wraps some errors as "1 error occurred:\n\t* permission denied\n\n"; one line reads better in logs.
  const errors = Array.isArray(response.body?.errors)
    ? (response.body.errors as unknown[]).map((error) => String(error).replace(/\s+/g, " ").trim())
    : [];
  return new VaultApiError(operation, response.status, errors, response.retryAfterMs);
}
