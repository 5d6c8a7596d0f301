import { randomBytes } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { type LoopbackCertificate, makeLoopbackCertificate } from "../azure-key-vault/certificate.js";
import type { EmulatorHandle } from "../cli.js";
import { FaultInjector, type FaultRule } from "../common/faults.js";
import { applyHttpFault, readBody } from "../common/http.js";
import { ConjurError, type ConjurLogin, ConjurStore } from "./conjur-store.js";

/** Conjur access tokens live about eight minutes. */
export const DEFAULT_TOKEN_TTL_SECONDS = 8 * 60;
/** Conjur's page size when a list gives an `offset` but no `limit`. */
const DEFAULT_LIST_LIMIT = 10;

export interface ConjurEmulatorOptions {
  host: string;
  port: number;
  /** Serve HTTPS with a generated CA (its PEM and file are in the handle). */
  tls?: boolean;
  /** With tls: require a client certificate signed by the emulator's CA (mutual TLS). */
  requireClientCertificate?: boolean;
  logins?: ConjurLogin[];
  /** Policy branches that exist besides `root`. */
  branches?: string[];
  tokenTtlSeconds?: number;
  /**
   * Conjur's `CONJUR_API_RESOURCE_LIST_LIMIT_MAX`: the most resources one list answers (an absent
   * `limit` means this many; a larger one is 422). 0, Conjur's default, means no maximum.
   */
  resourceListLimitMax?: number;
}

export interface ConjurEmulator extends EmulatorHandle {
  logins: ConjurLogin[];
  store: ConjurStore;
  faults: FaultInjector;
  caFile?: string;
  /** With tls: a client certificate and key (files) the emulator's CA signed, for mutual TLS. */
  clientCertificate?: { certFile: string; keyFile: string };
  /** Makes every issued token expire now (as if eight minutes had passed). */
  expireTokens(): void;
  /**
   * Every API request as it arrived (method and raw path, admin calls aside; the latest
   * MAX_RECEIVED), routed or not: what proves a refused setting never reached Conjur.
   */
  received: Array<{ method: string; path: string }>;
}

const MAX_RECEIVED = 1_000;

export function defaultLogins(): ConjurLogin[] {
  return [
    {
      account: "default",
      login: "host/secretgate",
      apiKey: randomBytes(16).toString("hex"),
      branches: ["secretgate", "team-b"],
    },
    {
      account: "default",
      login: "host/readonly-app",
      apiKey: randomBytes(16).toString("hex"),
      branches: ["apps/other"],
    },
    { account: "other", login: "host/secretgate", apiKey: randomBytes(16).toString("hex"), branches: ["root"] },
  ];
}

interface IssuedToken {
  login: ConjurLogin;
  expiresAt: number;
}

/**
 * CyberArk Conjur's REST API on loopback: authn with API keys and expiring tokens
 * (`Authorization: Token token="<base64>"`), secrets get/set/batch (all-or-nothing), variable
 * resources with their versions, and policy loads with `!variable` / `!delete` parsed as YAML.
 */
export async function startEmulator(options: ConjurEmulatorOptions): Promise<ConjurEmulator> {
  const logins = options.logins ?? defaultLogins();
  const ttlMs = (options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS) * 1000;
  const store = new ConjurStore(options.branches ?? ["secretgate", "team-b", "apps/other"]);
  const faults = new FaultInjector();
  const tokens = new Map<string, IssuedToken>();
  const received: Array<{ method: string; path: string }> = [];
  const certificate: LoopbackCertificate | undefined = options.tls ? makeLoopbackCertificate() : undefined;

  const handler = (request: IncomingMessage, response: ServerResponse) => {
    void serve(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, { error: { code: "internal", message: String(error) } });
    });
  };
  const server: Server = certificate
    ? (createHttpsServer(
        {
          cert: certificate.certPem,
          key: certificate.keyPem,
          ...(options.requireClientCertificate
            ? { ca: certificate.caPem, requestCert: true, rejectUnauthorized: true }
            : {}),
        },
        handler,
      ) as unknown as Server)
    : createHttpServer(handler);

  async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://emulator");
    const body = await readBody(request);
    const method = request.method ?? "GET";
    const segments = url.pathname.split("/").slice(1);
    if (segments[0] === "admin") return admin(method, url.pathname, body, response);
    if (received.length >= MAX_RECEIVED) received.shift();
    received.push({ method, path: request.url ?? "" });

    const route = routeRequest(method, segments, url.searchParams);
    if (!route)
      return sendJson(response, 404, {
        error: { code: "not_found", message: `No route matches ${method} ${url.pathname}` },
      });

    // A fault's target is the full variable id (`branch/name`).
    const fault = faults.next(route.operation, route.id);
    if (fault?.interleave && route.id !== undefined)
      store.writeAsAnotherClient(route.account!, route.id, Buffer.from(fault.interleave.value, "utf8"));
    if (fault && (await applyFault(fault, response, route))) return;

    try {
      if (route.operation === "Authenticate") {
        const login = logins.find(
          (candidate) => candidate.account === route.account && candidate.login === route.login,
        );
        if (!login || body.toString("utf8") !== login.apiKey) return send(response, 401, "", "text/plain");
        const token = issueToken(login);
        const base64 = /base64/i.test(String(request.headers["accept-encoding"] ?? ""));
        return send(
          response,
          200,
          base64 ? Buffer.from(token).toString("base64") : token,
          base64 ? "text/plain" : "application/json",
        );
      }

      const login = authenticated(request.headers.authorization);
      if (!login) {
        faults.next("Unauthenticated");
        return send(response, 401, "", "text/plain");
      }

      switch (route.operation) {
        case "GetSecret": {
          const version = route.version === undefined ? undefined : Number(route.version);
          return send(
            response,
            200,
            store.value(route.account!, login, route.id!, version),
            "application/octet-stream",
          );
        }
        case "SetSecret":
          store.setValue(route.account!, login, route.id!, body);
          return send(response, 201, "", "text/plain");
        case "BatchGetSecrets": {
          const values = store.batch(login, route.ids!);
          const base64 = /base64/i.test(String(request.headers["accept-encoding"] ?? ""));
          const encoded = Object.fromEntries(
            Object.entries(values).map(([id, value]) => [
              id,
              base64 ? value.toString("base64") : value.toString("utf8"),
            ]),
          );
          if (base64) response.setHeader("Content-Encoding", "base64");
          return sendJson(response, 200, encoded);
        }
        case "GetResource":
          return sendJson(response, 200, store.resource(route.account!, login, route.id!));
        case "ListResources":
          return sendJson(response, 200, listResources(route.account!, login, url.searchParams));
        case "LoadPolicy": {
          const loaded = store.loadPolicy(route.account!, login, route.branch!, body.toString("utf8"), method);
          return sendJson(response, 201, { created_roles: {}, version: loaded.version });
        }
      }
    } catch (error) {
      if (!(error instanceof ConjurError)) throw error;
      return sendJson(response, error.status, { error: { code: error.code, message: error.message } });
    }
  }

  /** Conjur's resource list: `count`, then `limit`/`offset` paging in id order, under the configured maximum. */
  function listResources(account: string, login: ConjurLogin, query: URLSearchParams): unknown {
    if (query.has("search"))
      throw new ConjurError(422, "unprocessable_entity", "the emulator does not implement full-text search");
    const ids = store.visibleIds(account, login, query.get("kind") ?? undefined);
    if (query.get("count") === "true") return { count: ids.length };
    const max = options.resourceListLimitMax ?? 0;
    let limit = wholeNumber(query, "limit");
    const offset = wholeNumber(query, "offset");
    if (max > 0) {
      limit ??= max;
      if (limit > max) throw new ConjurError(422, "unprocessable_entity", `'Limit' parameter must not exceed ${max}`);
    }
    const start = offset ?? 0;
    const listed =
      limit === undefined && offset === undefined
        ? ids
        : ids.sort().slice(start, start + (limit ?? DEFAULT_LIST_LIMIT));
    return listed.map((id) => store.resource(account, login, id));
  }

  function issueToken(login: ConjurLogin): string {
    const now = Date.now();
    const expiresAt = now + ttlMs;
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const token = JSON.stringify({
      protected: part({ alg: "conjur.org/slosilo/v2", kid: randomBytes(16).toString("hex") }),
      payload: part({ sub: login.login, iat: Math.floor(now / 1000), exp: Math.floor(expiresAt / 1000) }),
      signature: randomBytes(64).toString("base64url"),
    });
    tokens.set(Buffer.from(token).toString("base64"), { login, expiresAt });
    return token;
  }

  function authenticated(header: string | undefined): ConjurLogin | undefined {
    const token = /^Token token="([^"]+)"$/.exec(header ?? "")?.[1];
    const issued = token ? tokens.get(token) : undefined;
    if (!issued || issued.expiresAt <= Date.now()) return undefined;
    return issued.login;
  }

  function admin(method: string, path: string, body: Buffer, response: ServerResponse): void {
    if (path === "/admin/faults" && method === "POST") {
      const parsed = JSON.parse(body.toString("utf8") || "[]") as FaultRule[] | { rules: FaultRule[] };
      faults.set(Array.isArray(parsed) ? parsed : parsed.rules);
      return send(response, 204, "", "text/plain");
    }
    if (path === "/admin/faults" && method === "DELETE") {
      faults.clear();
      return send(response, 204, "", "text/plain");
    }
    if (path === "/admin/calls" && method === "GET") return sendJson(response, 200, faults.calls());
    if (path === "/admin/calls" && method === "DELETE") {
      faults.resetCalls();
      return send(response, 204, "", "text/plain");
    }
    if (path === "/admin/expire-tokens" && method === "POST") {
      expireTokens();
      return send(response, 204, "", "text/plain");
    }
    sendJson(response, 404, { error: { code: "not_found", message: `No admin route ${method} ${path}` } });
  }

  function expireTokens(): void {
    for (const issued of tokens.values()) issued.expiresAt = 0;
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const endpoint = `${certificate ? "https" : "http"}://${address.address}:${address.port}`;
  return {
    endpoint,
    logins,
    store,
    faults,
    ...(certificate
      ? {
          caFile: certificate.caFile,
          clientCertificate: { certFile: certificate.clientCertFile, keyFile: certificate.clientKeyFile },
        }
      : {}),
    expireTokens,
    received,
    details: {
      logins: logins.map(({ account, login, apiKey, branches }) => ({ account, login, apiKey, branches })),
      ...(certificate ? { caFile: certificate.caFile } : {}),
      admin: `${endpoint}/admin/`,
    },
    close: async () => {
      try {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      } finally {
        certificate?.remove();
      }
    },
  };
}

type Operation =
  | "Authenticate"
  | "GetSecret"
  | "SetSecret"
  | "BatchGetSecrets"
  | "GetResource"
  | "ListResources"
  | "LoadPolicy";

interface Route {
  operation: Operation;
  account?: string;
  login?: string;
  id?: string;
  version?: string;
  branch?: string;
  ids?: string[];
}

/** Conjur's paths; ids and logins arrive percent-encoded (a `/` in an id is %2F or a literal /). */
function routeRequest(method: string, segments: string[], query: URLSearchParams): Route | undefined {
  const [first, account, third, ...rest] = segments.map(decodeURIComponent);
  if (first === "authn" && method === "POST" && rest.length === 1 && rest[0] === "authenticate") {
    return { operation: "Authenticate", account: account!, login: third! };
  }
  if (first === "resources" && account !== undefined && third === undefined && method === "GET") {
    return { operation: "ListResources", account };
  }
  if (first === "secrets" && account === undefined && method === "GET") {
    const ids = query.get("variable_ids");
    return ids ? { operation: "BatchGetSecrets", ids: ids.split(",") } : undefined;
  }
  if ((first === "secrets" || first === "resources") && third === "variable" && rest.length > 0) {
    const id = rest.join("/");
    if (first === "resources")
      return method === "GET" ? { operation: "GetResource", account: account!, id } : undefined;
    if (method === "GET") {
      const version = query.get("version");
      return { operation: "GetSecret", account: account!, id, ...(version !== null ? { version } : {}) };
    }
    if (method === "POST") return { operation: "SetSecret", account: account!, id };
  }
  if (first === "policies" && third === "policy" && rest.length > 0 && ["POST", "PATCH", "PUT"].includes(method)) {
    return { operation: "LoadPolicy", account: account!, branch: rest.join("/") };
  }
  return undefined;
}

/** A `limit` or `offset` query parameter: absent, or a whole number (else 422). */
function wholeNumber(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (!/^\d{1,9}$/.test(raw))
    throw new ConjurError(422, "unprocessable_entity", `${name} must be a whole number, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** Answers an injected fault with Conjur's error shapes; `lag` with its 404 for a variable without a value. */
function applyFault(fault: FaultRule, response: ServerResponse, route: Route): Promise<boolean> {
  return applyHttpFault(
    fault,
    response,
    (status) =>
      status === 429
        ? sendJson(response, 429, { error: { code: "too_many_requests", message: "Too many requests" } })
        : sendJson(response, status, { error: { code: "injected", message: `Injected fault: HTTP ${status}` } }),
    () =>
      sendJson(response, 404, {
        error: {
          code: "not_found",
          message: `CONJ00076E Variable ${route.account ?? ""}:variable:${route.id ?? ""} is empty or not found.`,
        },
      }),
  );
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  send(response, status, JSON.stringify(body), "application/json");
}

function send(response: ServerResponse, status: number, body: string | Buffer, contentType: string): void {
  response.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
  response.end(body);
}
