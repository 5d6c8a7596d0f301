import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";

/**
 * connect-node builds each request's URL from its Host header (HTTP/1) or :authority (HTTP/2),
 * and throws when there is none — which HTTP/1.0 and HTTP/2 allow, and an empty Host means the
 * same (RFC 9112 §3.2). Routing looks only at the path, so such a request gets the listener's own
 * address as its authority. A Host that is present but not a `host[:port]`, or a second Host, is
 * the caller's error (RFC 9112 §3.2: 400): the returned message says which, without echoing it.
 */
export function settleAuthority(request: IncomingMessage | Http2ServerRequest, own: string): string | undefined {
  const headers = request.headers as Record<string, string | string[] | undefined>;
  if (request.httpVersionMajor >= 2) {
    const given = headers[":authority"] ?? headers.host;
    if (given === undefined || given === "") {
      headers[":authority"] = own;
      return undefined;
    }
    return typeof given === "string" && isAuthority(given) ? undefined : "the :authority header is not a host[:port]";
  }
  if (hostHeaders(request.rawHeaders) > 1) return "the request has more than one Host header";
  const given = headers.host;
  if (given === undefined || given === "") {
    headers.host = own;
    return undefined;
  }
  return typeof given === "string" && isAuthority(given) ? undefined : "the Host header is not a host[:port]";
}

function hostHeaders(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index]!.length === 4 && rawHeaders[index]!.toLowerCase() === "host") count++;
  }
  return count;
}

/** A host (name, IPv4 or [IPv6]) and an optional port, as a URL would hold it — nothing more. */
function isAuthority(text: string): boolean {
  const url = URL.parse(`http://${text}/`);
  return (
    url !== null &&
    url.pathname === "/" &&
    url.username === "" &&
    url.password === "" &&
    url.search === "" &&
    url.hash === ""
  );
}
