import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { FaultInjector } from "../common/faults.js";

/** Serves a REST call; returns false when the path is not one it knows. */
export type RestHandler = (
  request: IncomingMessage,
  url: URL,
  body: string,
  response: ServerResponse,
) => Promise<boolean>;

/**
 * The emulator's HTTP port: the admin API under /admin (documented in docs/backends/google-secret-manager.md) and,
 * where the emulator offers it, the REST (HTTP/JSON) mapping of the API.
 *   GET /admin/calls · DELETE /admin/calls · PUT /admin/faults [FaultRule…] · DELETE /admin/faults
 *   POST /admin/<action> for the emulator's own actions (JSON body in, JSON out)
 */
export async function startHttpFrontend(options: {
  host: string;
  port: number;
  faults: FaultInjector;
  actions?: Record<string, (body: any) => unknown>;
  rest?: RestHandler;
}): Promise<{ server: Server; url: string; address: string }> {
  const server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      void route(request, body, response).catch((error: unknown) => reply(response, 500, { error: String(error) }));
    });
  });
  const route = async (request: IncomingMessage, body: string, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://emulator");
    const json = () => (body === "" ? undefined : JSON.parse(body));
    if (url.pathname === "/admin/calls") {
      if (request.method === "DELETE") options.faults.resetCalls();
      return reply(response, 200, options.faults.calls());
    }
    if (url.pathname === "/admin/faults") {
      if (request.method === "PUT") options.faults.set(json() ?? []);
      else if (request.method === "DELETE") options.faults.clear();
      return reply(response, 200, {});
    }
    const action = url.pathname.startsWith("/admin/")
      ? options.actions?.[url.pathname.slice("/admin/".length)]
      : undefined;
    if (action && request.method === "POST") return reply(response, 200, (await action(json() ?? {})) ?? {});
    if (options.rest && (await options.rest(request, url, body, response))) return;
    reply(response, 404, {
      error: { code: 404, message: `no route for ${request.method} ${url.pathname}`, status: "NOT_FOUND" },
    });
  };
  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://${options.host}:${port}`, address: `${options.host}:${port}` };
}

export function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  response.end(JSON.stringify(body));
}

export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
