import { cpSync, mkdtempSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConsoleAssets } from "../../../src/server/console-assets.js";
import { ROOT } from "../../helpers/server.js";

/** What serve() wrote: enough of ServerResponse for it. */
function capture(): {
  response: ServerResponse;
  result: { status?: number; headers?: Record<string, unknown>; body?: Buffer };
} {
  const result: { status?: number; headers?: Record<string, unknown>; body?: Buffer } = {};
  const response = {
    writeHead(status: number, headers: Record<string, unknown>) {
      result.status = status;
      result.headers = headers;
      return this;
    },
    end(body?: Buffer | string) {
      result.body = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
      return this;
    },
  } as unknown as ServerResponse;
  return { response, result };
}

const request = (url: string) => ({ url, method: "GET", headers: {} }) as IncomingMessage;

describe("ConsoleAssets", () => {
  it("serves from memory: the files can vanish from disk after start-up", () => {
    // The built console (npm run build); the unit test copies it, loads, then deletes the copy.
    const built = join(ROOT, "dist", "console");
    const copy = mkdtempSync(join(tmpdir(), "console-assets-"));
    cpSync(built, copy, { recursive: true });
    const assets = ConsoleAssets.load(copy)!;
    rmSync(copy, { recursive: true, force: true });
    const { response, result } = capture();
    assets.serve(request("/console/overview"), response);
    expect(result.status).toBe(200);
    expect(result.body!.toString("utf8")).toContain('<div id="app">');
  });

  it("is absent, not an error, when the console was not built", () => {
    const empty = mkdtempSync(join(tmpdir(), "console-assets-"));
    expect(ConsoleAssets.load(empty)).toBeUndefined();
    rmSync(empty, { recursive: true, force: true });
  });
});
