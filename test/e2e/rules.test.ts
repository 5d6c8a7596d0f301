import { randomBytes } from "node:crypto";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";
import { callFailure } from "../helpers/call-failure.js";
import { TestServer } from "../helpers/server.js";

// Names an identity limited to `app/*` must not reach: the rule inside a longer name, the rule's
// prefix without its slash, and a name that merely starts like it.
const REFUSED = ["evil/app/x", "app", "appx/y"];
const token = `tok_${randomBytes(24).toString("base64url")}`;
const value = () => `sk-rules-${randomBytes(8).toString("hex")}`;

let server: TestServer;
const stored = new Map<string, string>();

beforeAll(async () => {
  server = await TestServer.start({
    config: {
      secretgate: {
        auth: {
          tokens: [
            {
              name: "app-only",
              token: "os.environ/APP_ONLY_TOKEN",
              rules: { read: ["app/*"], write: ["app/*"], delete: ["app/*"] },
            },
          ],
        },
      },
    },
    env: { APP_ONLY_TOKEN: token },
  });
  server.sensitive.add(token);
  for (const name of [...REFUSED, "app/x"]) {
    const text = value();
    stored.set(name, text);
    await server.grpc.write({ name, value: text });
  }
});
afterAll(async () => {
  await server?.stop();
});

const withToken = {
  interceptors: [
    (next: any) => (request: any) => {
      request.header.set("authorization", `Bearer ${token}`);
      return next(request);
    },
  ],
};
const ports: ReadonlyArray<readonly [string, () => Client<typeof SecretService>]> = [
  [
    "the gRPC port",
    () => createClient(SecretService, createGrpcTransport({ baseUrl: `http://${server.grpcAddress}`, ...withToken })),
  ],
  [
    "the HTTP port (Connect)",
    () =>
      createClient(
        SecretService,
        createConnectTransport({ baseUrl: `http://${server.httpAddress}`, httpVersion: "1.1", ...withToken }),
      ),
  ],
];

describe.each(ports)("an identity limited to app/*, on %s", (_port, connect) => {
  it.each(REFUSED)("may not read %j: its item is PERMISSION_DENIED and carries no value", async (name) => {
    const { results } = await connect().read({ names: [name, "app/x"] });
    expect(results[0]).toMatchObject({ found: false, value: "", error: { status: "PERMISSION_DENIED" } });
    expect(results[1]).toMatchObject({ found: true, value: stored.get("app/x") });
  });

  it.each(REFUSED)("may not write, delete or rotate %j, and nothing changes", async (name) => {
    const client = connect();
    const denied = async (call: Promise<unknown>) => expect((await callFailure(call)).code).toBe(Code.PermissionDenied);
    await denied(client.write({ name, value: value() }));
    await denied(client.delete({ name, force: true }));
    // Rotating in place writes the name; rotating to it writes it; rotating away from it deletes it.
    await denied(client.rotate({ currentName: name, value: value() }));
    await denied(client.rotate({ currentName: "app/x", newName: name, value: value() }));
    await denied(client.rotate({ currentName: name, newName: "app/rotated", value: value() }));
    const { results } = await server.grpc.read({ names: [name, "app/x", "app/rotated"], bypassCache: true });
    expect(results.map((result) => result.value)).toEqual([stored.get(name), stored.get("app/x"), ""]);
  });
});

describe("the same identity inside app/", () => {
  it("reads, writes, rotates and deletes there, on both ports", async () => {
    for (const [index, [, connect]] of ports.entries()) {
      const client = connect();
      const name = `app/own-${index}`;
      const first = value();
      expect(await client.write({ name, value: first })).toMatchObject({ name });
      expect((await client.read({ names: [name] })).results[0]).toMatchObject({ found: true, value: first });
      expect(await client.rotate({ currentName: name, newName: `${name}/next`, value: value() })).toMatchObject({
        oldDeleted: true,
      });
      expect(await client.delete({ name: `${name}/next`, force: true })).toMatchObject({ name: `${name}/next` });
    }
  });
});
