import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import net, { type AddressInfo } from "node:net";
import tls, { type TLSSocket } from "node:tls";
import type { EmulatorHandle, StartEmulator } from "../cli.js";
import { FaultInjector, type FaultRule } from "../common/faults.js";
import { applyHttpFault } from "../common/http.js";
import { allowed, type Capability, type PolicyRule } from "./acl.js";
import { type LoginRole, remainingSeconds, type Token, TokenStore } from "./auth-store.js";
import { type EmulatorCertificates, makeCertificates, readPem } from "./certificates.js";
import { verifyJwt } from "./jwt.js";
import { type KvAnswer, KvStore } from "./kv-store.js";
import { acceptingListVerb } from "./list-verb.js";

export type { PolicyRule } from "./acl.js";
export type { LoginRole } from "./auth-store.js";
export { signJwt } from "./jwt.js";

/** What a test (or a sandbox user, via POST /_emulator/configure) sets up; merged into what is there. */
export interface VaultEmulatorConfig {
  /** Namespaces (Vault Enterprise / HCP), e.g. ["admin", "admin/team-a"]; each (and each parent) gets a `secret` KV v2 mount. */
  namespaces?: string[];
  /** Extra KV v2 mounts. */
  kvMounts?: Array<{ namespace?: string; mount: string }>;
  /** ACL policies by name (names are global in the emulator). */
  policies?: Record<string, PolicyRule[]>;
  roles?: LoginRole[];
}

interface Listener {
  server: net.Server;
  endpoint: string;
}

const KV_AREAS = new Set(["data", "metadata", "delete", "undelete", "destroy"]);
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * A loopback Vault: the HTTP API secretgate and hvac use (KV v2, token/AppRole/cert/Kubernetes/JWT
 * auth, namespaces, ACL policies, sys/health), on a plain listener and a TLS listener that asks for
 * client certificates. Faults, sealing, token behaviour and call counts are under /_emulator/.
 */
export class VaultEmulator {
  readonly faults = new FaultInjector();
  readonly tokens = new TokenStore();
  readonly kv = new KvStore();
  readonly rootToken: string;
  sealed = false;
  private readonly namespaces = new Set<string>([""]);
  private readonly mounts = new Set<string>([mountKey("", "secret")]);
  private readonly policies = new Map<string, PolicyRule[]>();
  private readonly roles: LoginRole[] = [];
  /** Open client connections: the HTTP server never listens, so it does not track them itself. */
  private readonly connections = new Set<net.Socket>();
  private plain: Listener | undefined;
  private tls: Listener | undefined;

  private constructor(readonly certificates: EmulatorCertificates) {
    this.rootToken = this.tokens.createRoot().id;
  }

  static async start(
    options: { host?: string; port?: number; tlsPort?: number; config?: VaultEmulatorConfig } = {},
  ): Promise<VaultEmulator> {
    const host = options.host ?? "127.0.0.1";
    const emulator = new VaultEmulator(makeCertificates());
    if (options.config) emulator.configure(options.config);
    const certificates = emulator.certificates;
    // One HTTP server behind both listeners; it never listens itself, the listeners hand it their
    // connections with the LIST verb rewritten (list-verb.ts).
    const server = http.createServer(
      (request: IncomingMessage, response: ServerResponse) => void emulator.handle(request, response),
    );
    const track = (socket: net.Socket) => {
      emulator.connections.add(socket);
      socket.once("close", () => emulator.connections.delete(socket));
    };
    const plainServer = net
      .createServer((socket) => server.emit("connection", acceptingListVerb(socket)))
      .on("connection", track);
    const tlsServer = tls
      .createServer(
        {
          cert: readPem(certificates.serverCertFile),
          key: readPem(certificates.serverKeyFile),
          ca: readPem(certificates.caFile),
          requestCert: true,
          // Like Vault: the handshake succeeds without a client certificate; cert login checks it.
          rejectUnauthorized: false,
        },
        (socket) => {
          // Cert login asks the request's socket whether the client certificate was verified.
          const connection = Object.assign(acceptingListVerb(socket), {
            encrypted: true,
            authorized: socket.authorized,
          });
          server.emit("connection", connection);
        },
      )
      .on("connection", track);
    emulator.plain = await listen(plainServer, host, options.port ?? 0, "http");
    emulator.tls = await listen(tlsServer, host, options.tlsPort ?? 0, "https");
    return emulator;
  }

  /** http://127.0.0.1:PORT */
  get endpoint(): string {
    return this.plain!.endpoint;
  }

  /** https://127.0.0.1:PORT, signed by `certificates.caFile`; asks for client certificates. */
  get tlsEndpoint(): string {
    return this.tls!.endpoint;
  }

  configure(config: VaultEmulatorConfig): void {
    for (const namespace of config.namespaces ?? []) {
      const parts = trim(namespace).split("/");
      for (let depth = 1; depth <= parts.length; depth += 1) {
        const path = parts.slice(0, depth).join("/");
        this.namespaces.add(path);
        this.mounts.add(mountKey(path, "secret"));
      }
    }
    for (const { namespace, mount } of config.kvMounts ?? [])
      this.mounts.add(mountKey(trim(namespace ?? ""), trim(mount)));
    for (const [name, rules] of Object.entries(config.policies ?? {})) this.policies.set(name, rules);
    this.roles.push(...(config.roles ?? []));
  }

  async close(): Promise<void> {
    for (const socket of this.connections) socket.destroy();
    await Promise.all([this.plain, this.tls].map((listener) => listener && closeServer(listener.server)));
    rmSync(this.certificates.dir, { recursive: true, force: true });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      const url = new URL(request.url ?? "/", "http://emulator");
      const body = await readBody(request);
      if (url.pathname.startsWith("/_emulator/"))
        return this.admin(request.method ?? "GET", url.pathname.slice("/_emulator/".length), body, response);
      if (!url.pathname.startsWith("/v1/")) return send(response, 404, { errors: [] });
      await this.api(request, url, body, response);
    } catch (error) {
      if (!response.headersSent) send(response, 500, { errors: [`emulator failure: ${(error as Error).message}`] });
    }
  }

  private async api(request: IncomingMessage, url: URL, body: any, response: ServerResponse): Promise<void> {
    let segments: string[];
    try {
      segments = url.pathname.slice("/v1/".length).split("/").map(decodeURIComponent);
    } catch {
      return send(response, 400, { errors: ["invalid path encoding"] });
    }
    const headerNamespace = trim(String(request.headers["x-vault-namespace"] ?? ""));
    let namespace = headerNamespace;
    while (segments.length > 1) {
      const candidate = namespace === "" ? segments[0]! : `${namespace}/${segments[0]}`;
      if (!this.namespaces.has(candidate)) break;
      namespace = candidate;
      segments.shift();
    }
    // Vault serves GET with ?list=true as LIST (the LIST verb itself arrives rewritten that way).
    const method =
      request.method === "PUT"
        ? "POST"
        : request.method === "GET" && url.searchParams.get("list") === "true"
          ? "LIST"
          : (request.method ?? "GET");
    const route = this.route(namespace, segments, method);

    // A fault's target is the KV path below the mount (path_prefix included).
    const fault = this.faults.next(route.operation, route.path);
    if (fault?.interleave && route.mount !== "") {
      // Another client's write (LiteLLM's `key` field) landing first, as `vault kv put` would.
      this.kv.write(namespace, route.mount, route.path, { data: { key: fault.interleave.value } });
    }
    if (fault) {
      if (await applyFault(fault, response, route.operation)) return;
    }
    if (route.operation === "health") return this.health(response);
    if (this.sealed) return send(response, 503, { errors: ["Vault is sealed"] });
    if (!this.namespaces.has(headerNamespace))
      return send(response, 404, { errors: [`namespace not found: ${headerNamespace}`] });
    if (route.operation === "login") return this.login(route.mount, namespace, body, request, response);

    const caller = this.tokens.find(token(request));
    if (!caller || !within(caller.namespace, namespace)) return send(response, 403, { errors: ["permission denied"] });
    if (route.operation === "lookup-self") return envelope(response, 200, { data: lookup(caller) });
    if (route.operation === "renew-self") return this.renewSelf(caller, body, response);

    // As in Vault, the policy is checked before routing: a limited token gets 403 even for a path that does not exist.
    const { mount, area, path } = route;
    const capability = kvCapability(method, area, this.kv.exists(namespace, mount, path));
    const joined = [
      relativeNamespace(caller.namespace, namespace),
      ...(route.operation === "unknown" ? segments : [mount, area, path]),
    ]
      .filter((part) => part !== "")
      .join("/");
    // Vault checks a LIST against the folder's path with a trailing '/': `secret/metadata/*` covers the mount's root.
    const relative = method === "LIST" && !joined.endsWith("/") ? `${joined}/` : joined;
    if (
      !caller.policies.includes("root") &&
      !allowed(
        caller.policies.flatMap((name) => this.policies.get(name) ?? []),
        relative,
        capability,
      )
    ) {
      return send(response, 403, { errors: ["1 error occurred:\n\t* permission denied\n\n"] });
    }
    if (route.operation === "unknown") {
      return send(response, 404, { errors: [`no handler for route "${segments.join("/")}". route entry not found.`] });
    }
    if (path === "" && method !== "LIST") return send(response, 404, { errors: [] });
    return answer(response, this.kvCall(namespace, mount, area, path, method, body, url));
  }

  private route(
    namespace: string,
    segments: string[],
    method: string,
  ): { operation: string; mount: string; area: string; path: string } {
    const plain = (operation: string, mount = "") => ({ operation, mount, area: "", path: "" });
    const joined = segments.join("/");
    if (joined === "sys/health") return plain("health");
    if (joined === "auth/token/lookup-self") return plain("lookup-self");
    if (joined === "auth/token/renew-self") return plain("renew-self");
    if (segments[0] === "auth" && segments.at(-1) === "login" && segments.length > 2 && method === "POST") {
      return plain("login", segments.slice(1, -1).join("/"));
    }
    for (let index = 1; index < segments.length; index += 1) {
      const mount = segments.slice(0, index).join("/");
      const area = segments[index]!;
      if (this.mounts.has(mountKey(namespace, mount)) && KV_AREAS.has(area)) {
        return { operation: kvOperation(method, area), mount, area, path: segments.slice(index + 1).join("/") };
      }
    }
    return plain("unknown");
  }

  private kvCall(
    namespace: string,
    mount: string,
    area: string,
    path: string,
    method: string,
    body: any,
    url: URL,
  ): KvAnswer {
    const kv = this.kv;
    if (area === "data" && method === "GET")
      return kv.read(namespace, mount, path, Number(url.searchParams.get("version") ?? 0));
    if (area === "data" && method === "POST") return kv.write(namespace, mount, path, body);
    if (area === "data" && method === "DELETE") return kv.deleteLatest(namespace, mount, path);
    if (area === "metadata" && method === "GET") return kv.readMetadata(namespace, mount, path);
    if (area === "metadata" && method === "LIST") return kv.list(namespace, mount, path);
    if (area === "metadata" && method === "POST") return kv.writeMetadata(namespace, mount, path, body);
    if (area === "metadata" && method === "DELETE") return kv.deleteMetadata(namespace, mount, path);
    if ((area === "delete" || area === "undelete" || area === "destroy") && method === "POST")
      return kv.changeVersions(namespace, mount, path, area, body);
    return { status: 405, errors: ["unsupported operation"] };
  }

  private health(response: ServerResponse): void {
    send(response, this.sealed ? 503 : 200, {
      initialized: true,
      sealed: this.sealed,
      standby: false,
      performance_standby: false,
      replication_performance_mode: "disabled",
      replication_dr_mode: "disabled",
      server_time_utc: Math.floor(Date.now() / 1000),
      version: "1.17.0+emulator",
      cluster_name: "vault-emulator",
      cluster_id: "00000000-0000-0000-0000-000000000000",
    });
  }

  private login(mount: string, namespace: string, body: any, request: IncomingMessage, response: ServerResponse): void {
    const roles = this.roles.filter(
      (role) => trim(role.namespace ?? "") === namespace && trim(role.mount ?? role.method) === mount,
    );
    if (roles.length === 0)
      return send(response, 400, { errors: [`no auth method mounted at auth/${mount} in this namespace`] });
    const method = roles[0]!.method;
    let role: LoginRole | undefined;
    let displayName = "";
    switch (method) {
      case "approle": {
        role = roles.find((candidate) => candidate.roleId === body?.role_id);
        if (!role || role.secretId !== body?.secret_id)
          return send(response, 400, { errors: ["invalid role or secret ID"] });
        displayName = `approle`;
        break;
      }
      case "cert": {
        const socket = request.socket as TLSSocket;
        if (!socket.encrypted || !socket.authorized) {
          return send(response, 400, { errors: ["invalid certificate or no client certificate supplied"] });
        }
        role = body?.name ? roles.find((candidate) => candidate.name === body.name) : roles[0];
        if (!role) return send(response, 400, { errors: ["invalid certificate or no client certificate supplied"] });
        displayName = `cert-${role.name}`;
        break;
      }
      case "kubernetes":
      case "jwt": {
        role = roles.find((candidate) => candidate.name === body?.role);
        if (!role) return send(response, 400, { errors: [`role "${String(body?.role)}" could not be found`] });
        const verified =
          typeof body?.jwt === "string" && role.publicKeyPem
            ? verifyJwt(body.jwt, role.publicKeyPem)
            : { problem: "missing jwt" };
        if ("problem" in verified) {
          return method === "kubernetes"
            ? send(response, 403, { errors: ["permission denied"] })
            : send(response, 400, { errors: [`error validating token: ${verified.problem}`] });
        }
        const problem =
          method === "kubernetes"
            ? kubernetesBindingProblem(role, verified.claims)
            : audienceProblem(role, verified.claims);
        if (problem)
          return method === "kubernetes"
            ? send(response, 403, { errors: ["permission denied"] })
            : send(response, 400, { errors: [problem] });
        displayName = `${mount}-${String(verified.claims.sub ?? role.name)}`;
        break;
      }
    }
    const issued = this.tokens.issue(role, namespace, displayName);
    envelope(response, 200, { auth: authBlock(issued) });
  }

  private renewSelf(caller: Token, body: any, response: ServerResponse): void {
    const result = this.tokens.renew(caller, Number(body?.increment ?? 0) || undefined);
    if (!result.ok) return send(response, 400, { errors: [result.error] });
    envelope(response, 200, { auth: authBlock(caller), warnings: result.warning ? [result.warning] : null });
  }

  private admin(method: string, path: string, body: any, response: ServerResponse): void {
    const done = (payload?: unknown) => send(response, 200, payload ?? {});
    if (path === "calls" && method === "GET") return done(this.faults.calls());
    if (path === "calls/reset" && method === "POST") return done(this.faults.resetCalls());
    if (path === "faults" && method === "PUT") return done(this.faults.set((body?.rules ?? []) as FaultRule[]));
    if (path === "faults" && method === "DELETE") return done(this.faults.clear());
    if (path === "seal" && method === "PUT") {
      this.sealed = body?.sealed !== false;
      return done(this.sealed);
    }
    if (path === "tokens" && method === "PUT") {
      if (typeof body?.renewalRefused === "boolean") this.tokens.renewalRefused = body.renewalRefused;
      if (body?.revokeAll === true) this.tokens.revokeAll(this.rootToken);
      return done();
    }
    if (path === "configure" && method === "POST") return done(this.configure(body as VaultEmulatorConfig));
    send(response, 404, { errors: [`no admin route ${method} /_emulator/${path}`] });
  }
}

/** `npm run emulator -- vault --port N`: plain listener on N, TLS on a free port, a root token and a ready AppRole. */
export const startEmulator: StartEmulator = async ({ host, port }) => {
  const roleId = randomUUID();
  const secretId = randomUUID();
  const emulator = await VaultEmulator.start({
    host,
    port,
    config: {
      policies: { secretgate: [{ path: "secret/*", capabilities: ["create", "read", "update", "delete", "list"] }] },
      roles: [
        { method: "approle", name: "secretgate", roleId, secretId, policies: ["secretgate"] },
        { method: "cert", name: "secretgate", policies: ["secretgate"] },
      ],
    },
  });
  const handle: EmulatorHandle = {
    endpoint: emulator.endpoint,
    details: {
      rootToken: emulator.rootToken,
      tlsEndpoint: emulator.tlsEndpoint,
      admin: `${emulator.endpoint}/_emulator/`,
      approle: { roleId, secretId },
      caFile: emulator.certificates.caFile,
      clientCertFile: emulator.certificates.clientCertFile,
      clientKeyFile: emulator.certificates.clientKeyFile,
    },
    close: () => emulator.close(),
  };
  return handle;
};

/** Answers an injected fault with Vault's error shapes; `lag` with KV's 404 for a path it does not hold. */
function applyFault(fault: FaultRule, response: ServerResponse, operation: string): Promise<boolean> {
  return applyHttpFault(
    fault,
    response,
    (status) => {
      if (status === 429)
        return send(response, 429, { errors: [`request path "${operation}": rate limit quota exceeded`] });
      const message =
        status === 503 ? "Vault is sealed" : status === 412 ? "required index state not present" : "internal error";
      send(response, status, { errors: [message] });
    },
    () => send(response, 404, { errors: [] }),
  );
}

function kvOperation(method: string, area: string): string {
  if (area === "data") return method === "GET" ? "kv-read" : method === "DELETE" ? "kv-delete" : "kv-write";
  if (area === "metadata") {
    return method === "GET"
      ? "kv-metadata-read"
      : method === "LIST"
        ? "kv-list"
        : method === "DELETE"
          ? "kv-metadata-delete"
          : "kv-metadata-write";
  }
  return `kv-${area}`;
}

function kvCapability(method: string, area: string, exists: boolean): Capability {
  if (method === "GET") return "read";
  if (method === "LIST") return "list";
  if (method === "DELETE") return "delete";
  return area === "data" || area === "metadata" ? (exists ? "update" : "create") : "update";
}

function kubernetesBindingProblem(role: LoginRole, claims: Record<string, any>): string | undefined {
  const match = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(String(claims.sub ?? ""));
  if (!match) return "subject is not a service account";
  const bound = (list: string[] | undefined, value: string) => !list || list.includes("*") || list.includes(value);
  if (!bound(role.boundServiceAccountNamespaces, match[1]!)) return "namespace not authorized";
  if (!bound(role.boundServiceAccountNames, match[2]!)) return "service account name not authorized";
  return undefined;
}

function audienceProblem(role: LoginRole, claims: Record<string, any>): string | undefined {
  if (!role.boundAudiences) return undefined;
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  return audiences.some((audience) => role.boundAudiences!.includes(audience))
    ? undefined
    : "error validating claims: invalid audience (aud) claim";
}

function authBlock(token: Token) {
  return {
    client_token: token.id,
    accessor: token.accessor,
    policies: token.policies,
    token_policies: token.policies,
    metadata: {},
    lease_duration: remainingSeconds(token),
    renewable: token.renewable,
    entity_id: "",
    token_type: "service",
    orphan: true,
  };
}

function lookup(token: Token) {
  return {
    accessor: token.accessor,
    creation_time: Math.floor(token.issuedAt / 1000),
    creation_ttl: token.ttlMs / 1000,
    display_name: token.displayName,
    expire_time: token.expiresAt === Infinity ? null : new Date(token.expiresAt).toISOString(),
    id: token.id,
    namespace_path: token.namespace === "" ? "" : `${token.namespace}/`,
    policies: token.policies,
    renewable: token.renewable,
    ttl: remainingSeconds(token),
    type: "service",
  };
}

const token = (request: IncomingMessage) => {
  const header = request.headers["x-vault-token"];
  return typeof header === "string" ? header : undefined;
};
const trim = (value: string) => value.replace(/^\/+|\/+$/g, "");
const mountKey = (namespace: string, mount: string) => `${namespace}\u0000${mount}`;
const within = (parent: string, child: string) => parent === "" || child === parent || child.startsWith(`${parent}/`);
const relativeNamespace = (parent: string, child: string) => (parent === "" ? child : child.slice(parent.length + 1));

function answer(response: ServerResponse, result: KvAnswer): void {
  if (result.status === 204) return send(response, 204, undefined);
  if (result.errors) return send(response, result.status, { errors: result.errors });
  envelope(response, result.status, { data: result.data });
}

/** Vault's response envelope around `data` / `auth`. */
function envelope(response: ServerResponse, status: number, fields: Record<string, unknown>): void {
  send(response, status, {
    request_id: randomUUID(),
    lease_id: "",
    renewable: false,
    lease_duration: 0,
    data: null,
    wrap_info: null,
    warnings: null,
    auth: null,
    ...fields,
  });
}

function send(response: ServerResponse, status: number, body: unknown): void {
  if (body === undefined) {
    response.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  response
    .writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
    .end(text);
}

async function readBody(request: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error("request body too large");
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function listen(server: net.Server, host: string, port: number, scheme: string): Promise<Listener> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address() as AddressInfo;
      resolve({ server, endpoint: `${scheme}://${host}:${address.port}` });
    });
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
