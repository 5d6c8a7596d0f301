import { status } from "@grpc/grpc-js";
import type { FaultInjector } from "../common/faults.js";
import { EmulatorError, httpStatusOf } from "../google-common/faults.js";
import { type RestHandler, reply } from "../google-common/http-frontend.js";
import { forJson } from "../google-common/views.js";
import { type Operation, perform } from "./grpc-service.js";
import type { Message, SecretManagerStore } from "./store.js";

const SECRET = "projects/[^/]+/secrets/[^/:]+";
const VERSION = `${SECRET}/versions/[^/:]+`;

/** The HTTP/JSON mapping of the calls (google.api.http rules in service.proto), as the SDK's REST transport sends them. */
const ROUTES: Array<{
  method: string;
  path: RegExp;
  operation: Operation;
  request: (match: string, url: URL, body: Message) => Message;
}> = [
  {
    method: "GET",
    path: /^\/v1\/(projects\/[^/]+)\/secrets$/,
    operation: "ListSecrets",
    request: (parent, url) => ({ parent, ...paging(url) }),
  },
  {
    method: "POST",
    path: /^\/v1\/(projects\/[^/]+)\/secrets$/,
    operation: "CreateSecret",
    request: (parent, url, secret) => ({ parent, secretId: url.searchParams.get("secretId") ?? "", secret }),
  },
  { method: "GET", path: new RegExp(`^/v1/(${SECRET})$`), operation: "GetSecret", request: (name) => ({ name }) },
  {
    method: "PATCH",
    path: new RegExp(`^/v1/(${SECRET})$`),
    operation: "UpdateSecret",
    request: (name, url, secret) => ({
      secret: { ...secret, name },
      updateMask: { paths: (url.searchParams.get("updateMask") ?? "").split(",").filter((path) => path !== "") },
    }),
  },
  { method: "DELETE", path: new RegExp(`^/v1/(${SECRET})$`), operation: "DeleteSecret", request: (name) => ({ name }) },
  {
    method: "POST",
    path: new RegExp(`^/v1/(${SECRET}):addVersion$`),
    operation: "AddSecretVersion",
    request: (parent, _url, body) => ({ parent, payload: payloadOf(body.payload) }),
  },
  {
    method: "GET",
    path: new RegExp(`^/v1/(${SECRET})/versions$`),
    operation: "ListSecretVersions",
    request: (parent, url) => ({ parent, ...paging(url) }),
  },
  {
    method: "GET",
    path: new RegExp(`^/v1/(${VERSION})$`),
    operation: "GetSecretVersion",
    request: (name) => ({ name }),
  },
  {
    method: "GET",
    path: new RegExp(`^/v1/(${VERSION}):access$`),
    operation: "AccessSecretVersion",
    request: (name) => ({ name }),
  },
  {
    method: "POST",
    path: new RegExp(`^/v1/(${VERSION}):disable$`),
    operation: "DisableSecretVersion",
    request: (name, _url, body) => ({ name, ...etagOf(body) }),
  },
  {
    method: "POST",
    path: new RegExp(`^/v1/(${VERSION}):enable$`),
    operation: "EnableSecretVersion",
    request: (name, _url, body) => ({ name, ...etagOf(body) }),
  },
  {
    method: "POST",
    path: new RegExp(`^/v1/(${VERSION}):destroy$`),
    operation: "DestroySecretVersion",
    request: (name, _url, body) => ({ name, ...etagOf(body) }),
  },
];

export function secretManagerRest(store: SecretManagerStore, faults: FaultInjector): RestHandler {
  return async (request, url, body, response) => {
    const path = decodeURIComponent(url.pathname);
    for (const route of ROUTES) {
      const match = route.method === request.method ? route.path.exec(path) : null;
      if (!match) continue;
      try {
        const message = route.request(match[1]!, url, body === "" ? {} : (JSON.parse(body) as Message));
        reply(response, 200, forJson(await perform(store, faults, route.operation, message)));
      } catch (error) {
        const failure = error instanceof EmulatorError ? error : new EmulatorError(status.INTERNAL, String(error));
        reply(response, httpStatusOf(failure.code), {
          error: { code: httpStatusOf(failure.code), message: failure.message, status: status[failure.code] },
        });
      }
      return true;
    }
    return false;
  };
}

function paging(url: URL): Message {
  return {
    pageSize: Number(url.searchParams.get("pageSize") ?? 0),
    pageToken: url.searchParams.get("pageToken") ?? "",
  };
}

function payloadOf(payload: Message | undefined): Message {
  return {
    data: Buffer.from(String(payload?.data ?? ""), "base64"),
    ...(payload?.dataCrc32c !== undefined ? { dataCrc32c: payload.dataCrc32c } : {}),
  };
}

/** The optional etag a version's state change carries in its body. */
function etagOf(body: Message): Message {
  return typeof body.etag === "string" && body.etag !== "" ? { etag: body.etag } : {};
}
