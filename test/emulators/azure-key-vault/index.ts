import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { EmulatorHandle } from "../cli.js";
import { type AppliedFault, FaultInjector, type FaultRule } from "../common/faults.js";
import { applyHttpFault, readBody } from "../common/http.js";
import { type LoopbackCertificate, makeLoopbackCertificate } from "./certificate.js";
import { type EmulatedApp, IdentityEndpoints } from "./identity-endpoints.js";
import { RECOVERABLE_DAYS, type SecretVersion, VaultError, VaultStore } from "./vault-store.js";

const PAGE_SIZE = 25;

export const DEFAULT_APP: EmulatedApp = {
  tenantId: "72f988bf-0000-4000-8000-00000000e3a1",
  clientId: "3f2c4d5e-0000-4000-8000-0000000c11e7",
  clientSecret: "emulator-client-secret",
};

export interface AzureKeyVaultEmulator extends EmulatorHandle {
  /** The vault URI (https://127.0.0.1:PORT) — also the authority host of its Entra ID endpoint. */
  endpoint: string;
  app: EmulatedApp;
  /** PEM of the CA that signed the emulator's certificate, and its file. */
  caPem: string;
  caFile: string;
  store: VaultStore;
  faults: FaultInjector;
  certificate: LoopbackCertificate;
  identity: IdentityEndpoints;
  /**
   * Points list pages' `nextLink` at another origin (plain http, another host), as a tampered or
   * misconfigured vault would; undefined links them to the vault itself again.
   */
  setNextLinkOrigin(origin: string | undefined): void;
}

/**
 * The environment that points the Azure SDK at `vault`: its URI, the app's tenant and client, the
 * emulator as Entra ID authority, and its CA (read by Node at start, trusted like a corporate
 * one). `credential` says how the app signs in; by default, with its client secret.
 */
export function sdkEnvironment(
  vault: AzureKeyVaultEmulator,
  credential: Record<string, string> = { AZURE_CLIENT_SECRET: vault.app.clientSecret },
): Record<string, string> {
  return {
    AZURE_KEY_VAULT_URI: vault.endpoint,
    AZURE_TENANT_ID: vault.app.tenantId,
    AZURE_CLIENT_ID: vault.app.clientId,
    ...credential,
    AZURE_AUTHORITY_HOST: vault.endpoint,
    NODE_EXTRA_CA_CERTS: vault.caFile,
  };
}

/**
 * An Azure Key Vault secrets endpoint (REST api-version 7.x and the dated versions the current
 * SDKs send) plus the Entra ID token endpoint, over HTTPS on loopback. Vault calls without a
 * valid bearer token get Key Vault's 401 challenge, which the SDKs answer by fetching a token.
 */
export async function startEmulator(options: {
  host: string;
  port: number;
  app?: EmulatedApp;
  /** A second vault in the same tenant: accepts that emulator's tokens and shares its certificate authority. */
  sameTenantAs?: AzureKeyVaultEmulator;
}): Promise<AzureKeyVaultEmulator> {
  const tenant = options.sameTenantAs;
  const app = tenant?.app ?? options.app ?? DEFAULT_APP;
  const certificate = tenant?.certificate ?? makeLoopbackCertificate();
  const store = new VaultStore();
  const faults = new FaultInjector();
  let baseUrl = "";
  let nextLinkOrigin: string | undefined;
  const identity = tenant?.identity ?? new IdentityEndpoints(app, () => baseUrl);
  const authorityHost = tenant?.endpoint ?? "";

  const server: Server = createServer({ cert: certificate.certPem, key: certificate.keyPem }, (request, response) => {
    void serve(request, response).catch((error: unknown) => {
      if (!response.headersSent)
        send(response, 500, { error: { code: "InternalServerError", message: String(error) } });
    });
  });

  async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", baseUrl);
    const body = (await readBody(request)).toString("utf8");
    const method = request.method ?? "GET";

    if (url.pathname.startsWith("/admin/")) return admin(method, url.pathname, body, response);

    const identityReply = identity.handle(method, url.pathname, () => new URLSearchParams(body));
    if (identityReply) {
      const fault = faults.next("Token");
      if (fault && (await applyFault(fault, response, ""))) return;
      return send(response, identityReply.status, identityReply.body);
    }

    const route = routeVaultRequest(method, url.pathname);
    if (!route) return send(response, 404, vaultError("NotFound", `No route for ${method} ${url.pathname}`));
    const apiVersion = url.searchParams.get("api-version");
    if (!apiVersion)
      return send(response, 400, vaultError("BadParameter", "The api-version query parameter is missing."));
    if (!/^(7\.\d+(-preview)?|20\d\d-\d\d-\d\d(-preview)?)$/.test(apiVersion)) {
      return send(
        response,
        400,
        vaultError("BadParameter", `The specified version (${apiVersion}) is not recognized.`),
      );
    }

    const authorization = request.headers.authorization ?? "";
    const token = /^Bearer (.+)$/.exec(authorization)?.[1];
    if (!token || !identity.accepts(token)) {
      faults.next("Challenge");
      response.setHeader(
        "WWW-Authenticate",
        `Bearer authorization="${authorityHost || baseUrl}/${app.tenantId}", resource="https://vault.azure.net"`,
      );
      return send(
        response,
        401,
        vaultError(
          "Unauthorized",
          token ? "AKV10032: Invalid issuer or expired token." : "AKV10000: Request is missing a Bearer or PoP token.",
        ),
      );
    }

    const fault = faults.next(route.operation, route.name);
    // Another client's PUT landing first (refused like any PUT to a deleted name: then nothing lands).
    if (fault?.interleave && route.name !== undefined) {
      try {
        store.set(route.name, { value: fault.interleave.value });
      } catch (error) {
        if (!(error instanceof VaultError)) throw error;
      }
    }
    if (fault && (await applyFault(fault, response, route.name ?? ""))) return;

    try {
      const reply = vaultOperation(route, body, url);
      if (reply === undefined) return send(response, 204, undefined);
      send(response, 200, reply);
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      send(response, error.status, vaultError(error.code, error.message, error.innerCode));
    }
  }

  function vaultOperation(route: VaultRoute, body: string, url: URL): unknown {
    const { name, version } = route;
    const input = body === "" ? {} : (JSON.parse(body) as SetSecretBody);
    switch (route.operation) {
      case "SetSecret": {
        if (typeof input.value !== "string") throw new VaultError(400, "BadParameter", "Property value is required.");
        const { name: stored, version: written } = store.set(name!, {
          value: input.value,
          ...(input.contentType !== undefined ? { contentType: input.contentType } : {}),
          ...(input.tags !== undefined ? { tags: input.tags } : {}),
          ...(input.attributes?.enabled !== undefined ? { enabled: input.attributes.enabled } : {}),
        });
        return bundle(stored, written, true);
      }
      case "GetSecret": {
        const found = store.get(name!, version);
        // Key Vault keeps a disabled version's value from everyone; a new version (PUT) is enabled.
        if (!found.version.enabled)
          throw new VaultError(
            403,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
            "SecretDisabled",
          );
        return bundle(found.name, found.version, true);
      }
      case "UpdateSecret": {
        const found = store.update(name!, version, {
          ...(input.contentType !== undefined ? { contentType: input.contentType } : {}),
          ...(input.tags !== undefined ? { tags: input.tags } : {}),
          ...(input.attributes?.enabled !== undefined ? { enabled: input.attributes.enabled } : {}),
        });
        return bundle(found.name, found.version, false);
      }
      case "ListSecrets":
        return page(
          store.list().map((item) => listItem(item.name, item.version)),
          url,
        );
      case "ListVersions":
        return page(
          store.versions(name!).map((item) => listItem(item.name, item.version, true)),
          url,
        );
      case "DeleteSecret":
        return deletedBundle(store.delete(name!));
      case "GetDeletedSecret":
        return deletedBundle(store.getDeleted(name!));
      case "ListDeletedSecrets":
        return page(
          store.listDeleted().map((deleted) => deletedBundle(deleted, false)),
          url,
        );
      case "PurgeDeletedSecret":
        store.purge(name!);
        return undefined;
      case "RecoverDeletedSecret": {
        const recovered = store.recover(name!);
        return bundle(recovered.name, recovered.version, false);
      }
    }
  }

  /** Key Vault pages lists (25 items unless `maxresults` says fewer) and links the next page. */
  const page = (items: unknown[], url: URL) => {
    const size = Math.min(Number(url.searchParams.get("maxresults") ?? PAGE_SIZE) || PAGE_SIZE, PAGE_SIZE);
    const start = Number(url.searchParams.get("$skiptoken") ?? 0) || 0;
    const next = new URL(url.href);
    next.searchParams.set("$skiptoken", String(start + size));
    return {
      value: items.slice(start, start + size),
      nextLink: start + size < items.length ? `${nextLinkOrigin ?? baseUrl}${next.pathname}${next.search}` : null,
    };
  };

  const bundle = (name: string, version: SecretVersion, withValue: boolean) => ({
    ...(withValue ? { value: version.value } : {}),
    id: `${baseUrl}/secrets/${name}/${version.version}`,
    ...(version.contentType !== undefined ? { contentType: version.contentType } : {}),
    attributes: attributes(version),
    ...(version.tags !== undefined ? { tags: version.tags } : {}),
  });

  const listItem = (name: string, version: SecretVersion, withVersion = false) => ({
    id: withVersion ? `${baseUrl}/secrets/${name}/${version.version}` : `${baseUrl}/secrets/${name}`,
    ...(version.contentType !== undefined ? { contentType: version.contentType } : {}),
    attributes: attributes(version),
    ...(version.tags !== undefined ? { tags: version.tags } : {}),
  });

  const deletedBundle = (deleted: ReturnType<VaultStore["getDeleted"]>, withId = true) => {
    const current = deleted.versions.at(-1)!;
    return {
      recoveryId: `${baseUrl}/deletedsecrets/${deleted.name}`,
      deletedDate: deleted.deletedDate,
      scheduledPurgeDate: deleted.scheduledPurgeDate,
      id: withId ? `${baseUrl}/secrets/${deleted.name}/${current.version}` : `${baseUrl}/secrets/${deleted.name}`,
      ...(current.contentType !== undefined ? { contentType: current.contentType } : {}),
      attributes: attributes(current),
      ...(current.tags !== undefined ? { tags: current.tags } : {}),
    };
  };

  function admin(method: string, path: string, body: string, response: ServerResponse): void {
    if (path === "/admin/faults" && method === "POST") {
      const parsed = JSON.parse(body || "[]") as FaultRule[] | { rules: FaultRule[] };
      faults.set(Array.isArray(parsed) ? parsed : parsed.rules);
      return send(response, 204, undefined);
    }
    if (path === "/admin/faults" && method === "DELETE") {
      faults.clear();
      return send(response, 204, undefined);
    }
    if (path === "/admin/calls" && method === "GET") return send(response, 200, faults.calls());
    if (path === "/admin/calls" && method === "DELETE") {
      faults.resetCalls();
      return send(response, 204, undefined);
    }
    send(response, 404, vaultError("NotFound", `No admin route ${method} ${path}`));
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  baseUrl = `https://${address.address}:${address.port}`;

  return {
    endpoint: baseUrl,
    app,
    caPem: certificate.caPem,
    caFile: certificate.caFile,
    store,
    faults,
    certificate,
    identity,
    setNextLinkOrigin: (origin) => {
      nextLinkOrigin = origin;
    },
    details: {
      authorityHost: authorityHost || baseUrl,
      tenantId: app.tenantId,
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      caFile: certificate.caFile,
      admin: `${baseUrl}/admin/`,
    },
    close: async () => {
      try {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      } finally {
        if (!tenant) certificate.remove();
      }
    },
  };
}

interface SetSecretBody {
  value?: string;
  contentType?: string;
  tags?: Record<string, string>;
  attributes?: { enabled?: boolean };
}

type VaultOperationName =
  | "SetSecret"
  | "GetSecret"
  | "UpdateSecret"
  | "ListSecrets"
  | "ListVersions"
  | "DeleteSecret"
  | "GetDeletedSecret"
  | "ListDeletedSecrets"
  | "PurgeDeletedSecret"
  | "RecoverDeletedSecret";

interface VaultRoute {
  operation: VaultOperationName;
  name?: string;
  version?: string;
}

/** Maps Key Vault's secrets REST paths to operations (names percent-decoded). */
function routeVaultRequest(method: string, path: string): VaultRoute | undefined {
  const parts = path.split("/").slice(1).map(decodeURIComponent);
  const [collection, name, third, fourth] = parts;
  // `/secrets/{name}/` (empty version) is how the SDKs ask for the latest version.
  const version = third === "" || third === undefined ? undefined : third;
  if (collection === "secrets") {
    if (name === undefined || name === "") return method === "GET" ? { operation: "ListSecrets" } : undefined;
    if (third === "versions" && fourth === undefined && method === "GET") return { operation: "ListVersions", name };
    if (fourth !== undefined) return undefined;
    if (method === "PUT" && version === undefined) return { operation: "SetSecret", name };
    if (method === "GET") return { operation: "GetSecret", name, ...(version ? { version } : {}) };
    if (method === "PATCH") return { operation: "UpdateSecret", name, ...(version ? { version } : {}) };
    if (method === "DELETE" && version === undefined) return { operation: "DeleteSecret", name };
    return undefined;
  }
  if (collection === "deletedsecrets") {
    if (name === undefined || name === "") return method === "GET" ? { operation: "ListDeletedSecrets" } : undefined;
    if (third === "recover" && method === "POST") return { operation: "RecoverDeletedSecret", name };
    if (third !== undefined && third !== "") return undefined;
    if (method === "GET") return { operation: "GetDeletedSecret", name };
    if (method === "DELETE") return { operation: "PurgeDeletedSecret", name };
  }
  return undefined;
}

function attributes(version: SecretVersion) {
  return {
    enabled: version.enabled,
    created: version.created,
    updated: version.updated,
    recoveryLevel: "Recoverable+Purgeable",
    recoverableDays: RECOVERABLE_DAYS,
  };
}

/** Key Vault's error body; `innererror` carries the specific reason (e.g. SecretDisabled). */
const vaultError = (code: string, message: string, innerCode?: string) => ({
  error: { code, message, ...(innerCode !== undefined ? { innererror: { code: innerCode } } : {}) },
});

/** Answers an injected fault with Key Vault's own error shapes. */
function applyFault(fault: AppliedFault, response: ServerResponse, name: string): Promise<boolean> {
  return applyHttpFault(
    fault,
    response,
    (status) =>
      status === 429
        ? send(
            response,
            429,
            vaultError("Throttled", "Request was not processed because too many requests were received. Reason: A1"),
          )
        : send(
            response,
            status,
            vaultError(status === 403 ? "Forbidden" : "InternalServerError", `Injected fault: HTTP ${status}`),
          ),
    () =>
      send(
        response,
        404,
        vaultError("SecretNotFound", `A secret with (name/id) ${name} was not found in this key vault.`),
      ),
  );
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const payload = body === undefined ? "" : JSON.stringify(body);
  response.writeHead(status, {
    ...(payload !== "" ? { "Content-Type": "application/json; charset=utf-8" } : {}),
    "Content-Length": Buffer.byteLength(payload),
    "x-ms-keyvault-service-version": "1.9.0.0",
  });
  response.end(payload);
}
