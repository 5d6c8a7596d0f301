import { X509Certificate } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Authenticator } from "../../../src/auth/authenticator.js";
import { parseSubjectAltNames } from "../../../src/auth/subject-alt-names.js";
import { ConfigError } from "../../../src/config/config-error.js";
import { Code, ServiceError } from "../../../src/core/errors.js";
import { TestCa } from "../../helpers/certificates.js";
import { parseConfig } from "../../helpers/config.js";

describe("parseSubjectAltNames (Node's subjectaltname string)", () => {
  it.each([
    ["", []],
    ["DNS:localhost", [{ type: "dns", value: "localhost" }]],
    ["URI:spiffe://corp/litellm", [{ type: "uri", value: "spiffe://corp/litellm" }]],
    ["email:ops@corp.example", [{ type: "email", value: "ops@corp.example" }]],
    ["IP Address:127.0.0.1", [{ type: "ip", value: "127.0.0.1" }]],
    // IPv6 comes as eight upper-case groups; it is compared in its canonical form.
    ["IP Address:2001:DB8:0:0:0:0:0:1", [{ type: "ip", value: "2001:db8::1" }]],
    ["IP Address:0:0:0:0:0:FFFF:102:304", [{ type: "ip", value: "::ffff:1.2.3.4" }]],
    // The type decides: the same text under another type is another name.
    [
      "DNS:spiffe://corp/litellm, email:spiffe://corp/litellm, URI:spiffe://corp/litellm",
      [
        { type: "dns", value: "spiffe://corp/litellm" },
        { type: "email", value: "spiffe://corp/litellm" },
        { type: "uri", value: "spiffe://corp/litellm" },
      ],
    ],
    // A value holding a comma (or quote, backslash, non-ASCII byte) is a JSON string: one name, not two.
    [
      'URI:"spiffe://corp/x\\u002c URI:spiffe://corp/litellm"',
      [{ type: "uri", value: "spiffe://corp/x, URI:spiffe://corp/litellm" }],
    ],
    [
      'DNS:"a\\u002cb", URI:x',
      [
        { type: "dns", value: "a,b" },
        { type: "uri", value: "x" },
      ],
    ],
    ['URI:"q\\"u\\\\o"', [{ type: "uri", value: 'q"u\\o' }]],
    // Types secretgate does not match on are skipped, quoted or not.
    [
      'othername:<unsupported>, DirName:"CN=a\\\\\\u002c URI:spiffe://corp/litellm", Registered ID:1.2.3, URI:ok',
      [{ type: "uri", value: "ok" }],
    ],
    ["IP Address:<invalid length=5>", []],
  ])("%j", (text, expected) => {
    expect(parseSubjectAltNames(text)).toEqual(expected);
  });

  it.each(['URI:"unterminated', 'URI:"bad escape \\x"', "no type at all", 'DNS:a"b', "DNS:a,DNS:b"])(
    "refuses the whole list when it is malformed: %j",
    (text) => {
      expect(parseSubjectAltNames(text)).toEqual([]);
    },
  );
});

describe("typed san in mtls_identities", () => {
  const withSan = (san: string) =>
    parseConfig({ secretgate: { auth: { mtls_identities: [{ name: "proxy", san }] } } }, {});

  it.each([
    ["spiffe://corp/litellm", "uri:spiffe://corp/litellm"],
    ["proxy.corp.internal", "dns:proxy.corp.internal"],
    ["ops@corp.example", "email:ops@corp.example"],
    ["10.0.0.7", "ip:10.0.0.7"],
    ["2001:db8::1", "ip:2001:db8::1"],
  ])("an untyped %j is refused, showing the typed form %j", async (san, typed) => {
    const failure = withSan(san);
    await expect(failure).rejects.toThrow(ConfigError);
    await expect(failure).rejects.toThrow(`secretgate.auth.mtls_identities.0.san: `);
    await expect(failure).rejects.toThrow(`"${typed}"`);
  });

  it.each(["uri:", "dns:has space", "email:é@corp.example", "ip:10.0.0", "ip:proxy.corp", "url:spiffe://corp/litellm"])(
    "%j is refused",
    async (san) => {
      await expect(withSan(san)).rejects.toThrow("secretgate.auth.mtls_identities.0.san: ");
    },
  );

  it.each([
    "uri:spiffe://corp/litellm",
    "URI:spiffe://corp/litellm",
    "dns:proxy.corp.internal",
    "email:ops@corp.example",
    "ip:10.0.0.7",
    "ip:::1",
  ])("%j is accepted", async (san) => {
    await expect(withSan(san)).resolves.toBeDefined();
  });
});

describe("matching a client certificate's SANs by type", () => {
  const ca = new TestCa("san-test-ca");
  const identities = [
    { name: "litellm", san: "uri:spiffe://corp/litellm" },
    { name: "proxy-host", san: "dns:proxy.corp.internal" },
    { name: "ops", san: "email:ops@corp.example" },
    { name: "v6", san: "ip:2001:db8::7" },
  ];

  async function identityOf(san: string): Promise<string> {
    const config = await parseConfig(
      {
        secretgate: {
          auth: { mtls_identities: identities.map((identity) => ({ ...identity, rules: { read: ["*"] } })) },
        },
      },
      {},
    );
    const { authenticator } = Authenticator.create({
      settings: config.server.auth,
      adminTokenEnv: undefined,
      dataDir: mkdtempSync(join(tmpdir(), "san-")),
      insecureNoAuth: false,
    });
    const pem = ca.client("someone", san);
    try {
      return authenticator.authenticate({ peerCertificate: new X509Certificate(pem.cert).toLegacyObject() }).name;
    } catch (error) {
      expect(error).toBeInstanceOf(ServiceError);
      expect((error as ServiceError).code).toBe(Code.Unauthenticated);
      return "UNAUTHENTICATED";
    }
  }

  it.each([
    ["URI:spiffe://corp/litellm", "litellm"],
    ["DNS:spiffe://corp/litellm", "UNAUTHENTICATED"],
    ["email:spiffe://corp/litellm", "UNAUTHENTICATED"],
    ["DNS:proxy.corp.internal", "proxy-host"],
    ["DNS:PROXY.corp.internal", "proxy-host"],
    ["URI:proxy.corp.internal", "UNAUTHENTICATED"],
    ["email:ops@corp.example", "ops"],
    ["DNS:ops@corp.example", "UNAUTHENTICATED"],
    ["URI:mailto:ops@corp.example", "UNAUTHENTICATED"],
    ["IP:2001:db8:0:0::7", "v6"],
    ["DNS:2001:db8::7", "UNAUTHENTICATED"],
    ["@alt\n[alt]\nURI.1 = spiffe://corp/x, URI:spiffe://corp/litellm", "UNAUTHENTICATED"],
    ["@alt\n[alt]\nDNS.1 = other.corp.internal\nURI.1 = spiffe://corp/litellm", "litellm"],
  ])("a certificate with %j is %s", async (san, expected) => {
    expect(await identityOf(san)).toBe(expected);
  });
});
