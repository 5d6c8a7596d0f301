import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";
import { callFailure } from "../helpers/call-failure.js";
import { type Pem, TestCa } from "../helpers/certificates.js";
import { TestServer } from "../helpers/server.js";

const ca = new TestCa("secretgate-san-ca");

function tlsFiles(): { cert_file: string; key_file: string; client_ca_file: string } {
  const dir = mkdtempSync(join(tmpdir(), "secretgate-san-tls-"));
  const server = ca.server();
  copyFileSync(server.certFile, join(dir, "server.crt"));
  copyFileSync(server.keyFile, join(dir, "server.key"));
  return { cert_file: join(dir, "server.crt"), key_file: join(dir, "server.key"), client_ca_file: ca.root.certFile };
}

describe("mTLS identities matched by SAN type", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await TestServer.start({
      config: {
        secretgate: {
          tls: tlsFiles(),
          auth: { mtls_identities: [{ name: "litellm", san: "uri:spiffe://corp/litellm", rules: { read: ["*"] } }] },
        },
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const clients = (pem: Pem) => [
    createClient(
      SecretService,
      createGrpcTransport({
        baseUrl: `https://${server.grpcAddress}`,
        nodeOptions: { ca: ca.root.cert, cert: pem.cert, key: pem.key },
      }),
    ),
    createClient(
      SecretService,
      createConnectTransport({
        baseUrl: `https://${server.httpAddress}`,
        httpVersion: "1.1",
        nodeOptions: { ca: ca.root.cert, cert: pem.cert, key: pem.key },
      }),
    ),
  ];

  it.each(["DNS:spiffe://corp/litellm", "email:spiffe://corp/litellm"])(
    "does not give a certificate with %s the URI's identity, on either port",
    async (san) => {
      for (const client of clients(ca.client("impostor", san))) {
        const failure = await callFailure(client.read({ names: ["OPENAI_API_KEY"] }));
        expect(failure.code).toBe(Code.Unauthenticated);
      }
    },
  );

  it("gives a certificate with URI:spiffe://corp/litellm that identity, on both ports", async () => {
    for (const client of clients(ca.client("proxy", "URI:spiffe://corp/litellm"))) {
      const { results } = await client.read({ names: ["OPENAI_API_KEY"] });
      expect(results[0]!.error?.status).toBe("NOT_FOUND");
    }
  });
});

describe("an untyped san", () => {
  it("stops the start (exit 2) with a message showing the typed form", async () => {
    const failure = await TestServer.startExpectingFailure({
      config: {
        secretgate: { tls: tlsFiles(), auth: { mtls_identities: [{ name: "litellm", san: "spiffe://corp/litellm" }] } },
      },
    });
    expect(failure.code).toBe(2);
    expect(failure.stderr).toContain("secretgate.auth.mtls_identities.0.san");
    expect(failure.stderr).toContain('"uri:spiffe://corp/litellm"');
  });
});
