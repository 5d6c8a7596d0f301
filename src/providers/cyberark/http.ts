import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

export interface ConjurResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface ConjurRequest {
  method: "GET" | "POST" | "PATCH";
  headers?: Record<string, string>;
  body?: string | Buffer;
  signal: AbortSignal;
  /** A longer answer fails the call instead of being buffered (resource lists). */
  maxResponseBytes?: number;
}

/** A Conjur answer other than the one expected; carries the status, never a value. */
export class ConjurHttpError extends Error {
  override name = "ConjurHttpError";
  constructor(
    readonly status: number,
    readonly operation: string,
    readonly target: string,
    detail: string,
    /** Conjur's (or its gateway's) Retry-After header, if any. */
    readonly retryAfter?: string,
  ) {
    super(`Conjur ${operation} ${target} answered ${status}${detail ? `: ${detail}` : ""}`);
  }

  static from(response: ConjurResponse, operation: string, target: string): ConjurHttpError {
    const retryAfter = response.headers["retry-after"];
    return new ConjurHttpError(
      response.status,
      operation,
      target,
      errorDetail(response),
      typeof retryAfter === "string" ? retryAfter : undefined,
    );
  }
}

/**
 * HTTP(S) to Conjur through node:http(s) with a keep-alive agent. Global fetch cannot take a
 * client certificate, a private CA or disabled verification without undici's Agent, which is
 * not a dependency; node:https can, so every call goes through here.
 */
export class ConjurTransport {
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(
    readonly baseUrl: URL,
    tls: { ca?: string[]; cert?: string; key?: string; rejectUnauthorized: boolean },
  ) {
    this.agent =
      baseUrl.protocol === "https:" ? new HttpsAgent({ keepAlive: true, ...tls }) : new HttpAgent({ keepAlive: true });
  }

  send(path: string, init: ConjurRequest): Promise<ConjurResponse> {
    const url = new URL(this.baseUrl.pathname.replace(/\/$/, "") + path, this.baseUrl);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const outgoing = send(
        url,
        {
          method: init.method,
          agent: this.agent,
          signal: init.signal,
          headers: {
            ...(init.body !== undefined ? { "Content-Length": String(Buffer.byteLength(init.body)) } : {}),
            ...init.headers,
          },
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          let size = 0;
          incoming.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (init.maxResponseBytes !== undefined && size > init.maxResponseBytes) {
              incoming.destroy(
                new Error(
                  `Conjur's answer to ${init.method} ${path.split("?")[0]} exceeded ${init.maxResponseBytes} bytes`,
                ),
              );
            } else chunks.push(chunk);
          });
          incoming.on("end", () =>
            resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: Buffer.concat(chunks) }),
          );
          incoming.on("error", reject);
        },
      );
      outgoing.on("error", reject);
      outgoing.end(init.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Conjur's JSON error message (`{"error":{"message"}}`), which names ids but never values. */
function errorDetail(response: ConjurResponse): string {
  try {
    const parsed = JSON.parse(response.body.toString("utf8")) as { error?: { message?: string } };
    return (parsed.error?.message ?? "").slice(0, 300);
  } catch {
    return "";
  }
}
