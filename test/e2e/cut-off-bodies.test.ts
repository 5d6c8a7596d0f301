import { connect as netConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLIENT_START, data, headers } from "../helpers/http2-frames.js";
import { splitAddress } from "../helpers/raw-socket.js";
import { TestServer } from "../helpers/server.js";

/**
 * A caller that goes away before its request body ended did nothing wrong that the service
 * must hear of at error level: a flood of such callers must not become a flood of error log
 * lines. It is counted as the peer's doing (`request_error`), on both HTTP versions.
 */
const RPC = "/secretgate.v1.SecretService";

let server: TestServer;
beforeAll(async () => {
  server = await TestServer.start({ env: { SECRETGATE_LOG_LEVEL: "info" } });
});
afterAll(async () => {
  await server?.stop();
});

/** Sends a request head and the first byte of a 100-byte body, then closes the connection. */
async function cutOff(http2: boolean): Promise<void> {
  const [host, port] = splitAddress(server.httpAddress);
  const socket = netConnect({ host, port });
  socket.on("error", () => undefined);
  await new Promise((resolve) => socket.once("connect", resolve));
  if (http2) {
    const fields: Array<[string, string]> = [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", `${RPC}/Read`],
      [":authority", "x"],
      ["content-type", "application/proto"],
      ["authorization", `Bearer ${server.token}`],
    ];
    socket.write(Buffer.concat([CLIENT_START, headers(1, fields), data(1, Buffer.from([0x0a]), false)]));
  } else {
    socket.write(
      `POST ${RPC}/Read HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\nAuthorization: Bearer ${server.token}\r\nContent-Length: 100\r\n\r\n\n`,
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  socket.destroy();
}

async function listenerErrors(kind: string): Promise<number> {
  const metrics = await (await fetch(`http://${server.httpAddress}/metrics`)).text();
  return Number(
    new RegExp(`secretgate_listener_errors_total\\{listener="http",kind="${kind}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0,
  );
}

describe("request bodies cut off by the caller", () => {
  it("are counted as request_error, not logged as errors of ours, over HTTP/1.1 and HTTP/2", async () => {
    for (const http2 of [false, true]) await cutOff(http2);
    let counted = 0;
    for (let attempt = 0; attempt < 50 && counted < 2; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      counted = await listenerErrors("request_error");
    }
    expect(counted).toBe(2);
    expect(await listenerErrors("handler")).toBe(0);
    expect(server.logLines.filter((line) => line.includes('"level":50'))).toEqual([]);
    const { results } = await server.grpc.read({ names: ["CUT_OFF"] });
    expect(results[0]?.found).toBe(false);
  });
});
