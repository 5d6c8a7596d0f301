import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestServer } from "../helpers/server.js";

// The console's static files under /console/ on the HTTP port, as a hostile client would ask
// for them: raw paths (no client-side normalisation), odd methods, Range, very long URLs.

let server: TestServer;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request with the path exactly as given (node:http does not normalise it). */
function get(path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const [host, port] = server.httpAddress.split(":");
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host, port: Number(port), path, method: options.method ?? "GET", headers: options.headers ?? {} },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    request.on("error", reject);
    request.end();
  });
}

/** A request written byte for byte on a socket (for what node:http refuses to send); the status line back. */
function raw(requestLine: string): Promise<string> {
  const [host, port] = server.httpAddress.split(":");
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), host, () =>
      socket.write(`${requestLine}\r\nHost: ${server.httpAddress}\r\nConnection: close\r\n\r\n`),
    );
    let text = "";
    socket.on("data", (chunk) => (text += chunk.toString("latin1")));
    socket.on("end", () => resolve(text.split("\r\n", 1)[0]!));
    socket.on("error", reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error("no answer")));
  });
}

function expectSecurityHeaders(answer: Answer): void {
  const csp = String(answer.headers["content-security-policy"]);
  for (const directive of [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ]) {
    expect(csp).toContain(directive);
  }
  expect(csp).not.toContain("unsafe-inline");
  expect(answer.headers["x-content-type-options"]).toBe("nosniff");
  expect(answer.headers["referrer-policy"]).toBe("no-referrer");
}

let index: Answer;
let scriptPath: string;

beforeAll(async () => {
  server = await TestServer.start();
  index = await get("/console/");
  scriptPath = /src="(\/console\/assets\/app-[0-9a-f]{16}\.js)"/.exec(index.body.toString("utf8"))![1]!;
});

afterAll(async () => {
  await server?.stop();
});

describe("the console's files", () => {
  it("serves index.html with a strict CSP, revalidated on every load", () => {
    expect(index.status).toBe(200);
    expect(index.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(index.headers["cache-control"]).toBe("no-cache");
    expectSecurityHeaders(index);
    const html = index.body.toString("utf8");
    // No inline script or style: the CSP would refuse them anyway.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|style=/);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it("serves hashed assets for a year, immutable, gzipped when asked", async () => {
    const plain = await get(scriptPath);
    expect(plain.status).toBe(200);
    expect(plain.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(plain.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expectSecurityHeaders(plain);
    const gzipped = await get(scriptPath, { headers: { "accept-encoding": "gzip, br" } });
    expect(gzipped.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(gzipped.body).equals(plain.body)).toBe(true);
    expect(gzipped.body.length).toBeLessThan(plain.body.length);
  });

  it("answers the app's own routes with index.html (client-side routing)", async () => {
    for (const path of [
      "/console/overview",
      "/console/secrets/",
      "/console/teams/team-a",
      "/console/teams/team%40b.c",
      "/console/audit?identity=x",
    ]) {
      const answer = await get(path);
      expect(answer.status, path).toBe(200);
      expect(answer.body.equals(index.body), path).toBe(true);
    }
    const bare = await get("/console");
    expect(bare.status).toBe(308);
    expect(bare.headers.location).toBe("/console/");
  });

  it("answers 304 to a current ETag", async () => {
    const again = await get("/console/", { headers: { "if-none-match": String(index.headers.etag) } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
  });

  it("never serves anything outside the bundle, however the path is spelled", async () => {
    for (const path of [
      "/console/assets/missing-0123456789abcdef.js",
      "/console/assets/../../package.json",
      "/console/../package.json",
      "/console/%2e%2e/package.json",
      "/console/%2E%2E/%2E%2E/package.json",
      "/console/..%2fpackage.json",
      "/console/assets/%2e%2e%2findex.html",
      "/console/assets/..%5c..%5cpackage.json",
      "/console/assets/index.html",
      "/console/assets/",
      "/console/teams/%00",
      "/console/a/b/c/d/e",
      "/console/.env",
      "/console/app-0123456789abcdef.js",
      "/console/favicon.ico",
      "/console/teams/..",
      `/console/assets/${"a".repeat(300)}.js`,
    ]) {
      const answer = await get(path);
      expect(answer.status, path).toBe(404);
      expectSecurityHeaders(answer);
      expect(answer.body.toString("utf8"), path).not.toMatch(/secretgate|"name"|<html/);
    }
  });

  it("refuses a NUL byte and other raw control bytes in the request line", async () => {
    for (const line of [
      "GET /console/\u0000 HTTP/1.1",
      "GET /console/assets/app\u0000.js HTTP/1.1",
      "GET /console/\u0007 HTTP/1.1",
    ]) {
      const status = await raw(line);
      expect(status, JSON.stringify(line)).toMatch(/^HTTP\/1\.1 (400|404) /);
    }
  });

  it("answers a very long URL with 414 and no body to speak of", async () => {
    const answer = await get(`/console/${"x/".repeat(2_000)}`);
    expect(answer.status).toBe(414);
    expect(answer.body.length).toBeLessThan(100);
  });

  it("answers HEAD with the headers alone, and other methods with 405", async () => {
    const head = await get(scriptPath, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers["content-length"])).toBeGreaterThan(1000);
    expect(head.body.length).toBe(0);
    for (const method of ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND"]) {
      const answer = await get("/console/", { method });
      expect(answer.status, method).toBe(405);
      expect(answer.headers.allow).toBe("GET, HEAD");
      expectSecurityHeaders(answer);
    }
    expect(await raw("TRACE /console/ HTTP/1.1")).toMatch(/^HTTP\/1\.1 405 /);
  });

  it("ignores Range and sends the whole file", async () => {
    const whole = await get(scriptPath);
    const ranged = await get(scriptPath, { headers: { range: "bytes=0-9" } });
    expect(ranged.status).toBe(200);
    expect(ranged.body.equals(whole.body)).toBe(true);
    const multi = await get("/console/", { headers: { range: "bytes=0-1,5-6,-3" } });
    expect(multi.status).toBe(200);
  });

  it("leaves the RPC routes and probes where they were", async () => {
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/")).status).toBe(404);
    expect((await get("/consoles")).status).toBe(404);
  });
});
