import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/** Where `npm run build` writes the console (scripts/build-console.mjs), seen from dist/src/server/. */
export const CONSOLE_DIR = fileURLToPath(new URL("../../console/", import.meta.url));
export const CONSOLE_PATH = "/console";

// What start-up loads at most: the bundle is a few files of a few hundred KiB.
const MAX_FILES = 32;
const MAX_TOTAL_BYTES = 16 * 1024 * 1024;
const MAX_URL_CHARS = 2048;
// Asset names as the build writes them: name-hash.extension.
const ASSET_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*\.(?:js|css|svg)$/;
// What the app's own routes look like: a few words and ids (team ids, percent-encoded by the app),
// never a hidden file's name nor one that asks for a file type (a missing asset is a 404).
const APP_ROUTE = /^(?:[A-Za-z0-9]|%[0-9A-Fa-f]{2})(?:[A-Za-z0-9._~@:-]|%[0-9A-Fa-f]{2}){0,255}$/;
const FILE_LIKE = /\.(?:js|mjs|css|map|svg|png|ico|jpe?g|gif|webp|json|html?|txt|xml|woff2?|ttf)$/i;
const MAX_ROUTE_SEGMENTS = 4;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  html: "text/html; charset=utf-8",
};

/** Sent with every response under /console/, errors included. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src " +
    "'self'; connect-src 'self'; font-src 'self'; object-src 'none'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  contentType: string;
  cacheControl: string;
  etag: string;
}

type Request = IncomingMessage | Http2ServerRequest;
/** An HTTP/1.1 response, or HTTP/2's compatibility response, which has the same methods used here. */
type Response = ServerResponse;

/**
 * The operator console's files, read once at start-up into memory (bounded) and served from
 * there: nothing under /console/ ever reads the disk at request time, so no path a caller sends
 * can reach a file. Hashed assets are cached for a year; index.html is revalidated every time and
 * answers every path that looks like one of the app's own routes (client-side routing).
 */
export class ConsoleAssets {
  private constructor(
    private readonly index: Asset,
    private readonly assets: ReadonlyMap<string, Asset>,
  ) {}

  /** The built console in `dir`, or undefined when it was not built (the server runs without it). */
  static load(dir: string = CONSOLE_DIR): ConsoleAssets | undefined {
    const indexFile = join(dir, "index.html");
    if (!existsSync(indexFile)) return undefined;
    const assetDir = join(dir, "assets");
    const names = existsSync(assetDir) ? readdirSync(assetDir).filter((name) => ASSET_NAME.test(name)) : [];
    if (names.length > MAX_FILES)
      throw new Error(`the console bundle in ${dir} has ${names.length} files; at most ${MAX_FILES} are served`);
    let total = statSync(indexFile).size;
    const assets = new Map<string, Asset>();
    for (const name of names) {
      total += statSync(join(assetDir, name)).size;
      if (total > MAX_TOTAL_BYTES)
        throw new Error(`the console bundle in ${dir} is larger than ${MAX_TOTAL_BYTES} bytes`);
      assets.set(
        name,
        asset(
          readFileSync(join(assetDir, name)),
          CONTENT_TYPES[name.slice(name.lastIndexOf(".") + 1)]!,
          "public, max-age=31536000, immutable",
        ),
      );
    }
    return new ConsoleAssets(asset(readFileSync(indexFile), CONTENT_TYPES.html!, "no-cache"), assets);
  }

  /** Whether `path` (without its query) is the console's to answer. */
  static owns(path: string): boolean {
    return path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`);
  }

  serve(request: Request, response: Response): void {
    const url = request.url ?? "";
    if (url.length > MAX_URL_CHARS) return plain(response, 414, "the URL is too long");
    const path = url.split("?", 1)[0]!;
    if (request.method !== "GET" && request.method !== "HEAD") {
      return plain(response, 405, "the console is read with GET or HEAD", { allow: "GET, HEAD" });
    }
    if (path === CONSOLE_PATH) return plain(response, 308, "", { location: `${CONSOLE_PATH}/` });
    const rest = path.slice(CONSOLE_PATH.length + 1);
    if (rest.startsWith("assets/")) {
      const found = this.assets.get(rest.slice("assets/".length));
      return found ? send(request, response, found) : plain(response, 404, "no such console asset");
    }
    return isAppRoute(rest) ? send(request, response, this.index) : plain(response, 404, "not found");
  }
}

/** "", "overview", "teams/team-a": a few segments of plain characters, no `.` or `..` segment. */
function isAppRoute(rest: string): boolean {
  const trimmed = rest.endsWith("/") ? rest.slice(0, -1) : rest;
  if (trimmed === "") return true;
  const segments = trimmed.split("/");
  return (
    segments.length <= MAX_ROUTE_SEGMENTS &&
    !FILE_LIKE.test(trimmed) &&
    segments.every((segment) => APP_ROUTE.test(segment) && !/%(?:2[eEfF]|5[cC]|00)/.test(segment))
  );
}

function asset(body: Buffer, contentType: string, cacheControl: string): Asset {
  const compressed = gzipSync(body, { level: 9 });
  return {
    body,
    // Worth sending only when smaller (a tiny SVG is not).
    gzip: compressed.length < body.length ? compressed : undefined,
    contentType,
    cacheControl,
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
  };
}

/** The whole file, whatever Range asks: a server may ignore Range (RFC 9110 §14.2). */
function send(request: Request, response: Response, file: Asset): void {
  const headers: Record<string, string | number> = {
    ...SECURITY_HEADERS,
    "content-type": file.contentType,
    "cache-control": file.cacheControl,
    etag: file.etag,
    vary: "accept-encoding",
  };
  if (request.headers["if-none-match"] === file.etag) {
    response.writeHead(304, headers);
    response.end();
    return;
  }
  const gzip = file.gzip && /\bgzip\b/.test(String(request.headers["accept-encoding"] ?? "")) ? file.gzip : undefined;
  const body = gzip ?? file.body;
  if (gzip) headers["content-encoding"] = "gzip";
  headers["content-length"] = body.length;
  response.writeHead(200, headers);
  if (request.method === "HEAD") response.end();
  else response.end(body);
}

function plain(response: Response, status: number, message: string, extra: Record<string, string> = {}): void {
  const body = message === "" ? "" : `${message}\n`;
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-cache",
    "content-length": Buffer.byteLength(body),
    ...extra,
  });
  response.end(body);
}
