import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A throwaway CA and a loopback server certificate it signed, made with the openssl CLI. */
export interface LoopbackCertificate {
  /** PEM of the CA that clients trust (NODE_EXTRA_CA_CERTS, `connection_verify`, `ca`). */
  caPem: string;
  /** Path of the CA file, for clients that take a file name. */
  caFile: string;
  /** Server certificate (SAN 127.0.0.1 and localhost) and key, PEM. */
  certPem: string;
  keyPem: string;
  /** A client certificate (CN=secretgate-client, clientAuth) and key signed by the same CA, with their files. */
  clientCertPem: string;
  clientKeyPem: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** Removes the files. */
  remove(): void;
}

/**
 * Makes a CA and a server certificate at start, so emulators speak real TLS that clients verify
 * (no `rejectUnauthorized: false` anywhere). The extensions satisfy strict verifiers (Python's
 * VERIFY_X509_STRICT): a critical CA basic constraint, key usages, SKI/AKI and a SAN.
 */
export function makeLoopbackCertificate(): LoopbackCertificate {
  const dir = mkdtempSync(join(tmpdir(), "secretgate-emulator-tls-"));
  const file = (name: string) => join(dir, name);
  const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

  openssl([
    "req",
    "-x509",
    ...ecKey,
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=secretgate emulator CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  openssl(["req", ...ecKey, "-keyout", file("server.key"), "-out", file("server.csr"), "-subj", "/CN=localhost"]);
  writeFileSync(
    file("server.ext"),
    [
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "subjectKeyIdentifier=hash",
      "authorityKeyIdentifier=keyid",
    ].join("\n"),
  );
  openssl([
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-out",
    file("server.pem"),
    "-days",
    "2",
    "-extfile",
    file("server.ext"),
  ]);
  openssl([
    "req",
    ...ecKey,
    "-keyout",
    file("client.key"),
    "-out",
    file("client.csr"),
    "-subj",
    "/CN=secretgate-client",
  ]);
  writeFileSync(
    file("client.ext"),
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=clientAuth",
      "authorityKeyIdentifier=keyid",
    ].join("\n"),
  );
  openssl([
    "x509",
    "-req",
    "-in",
    file("client.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-out",
    file("client.pem"),
    "-days",
    "2",
    "-extfile",
    file("client.ext"),
  ]);
  return {
    clientCertPem: readFileSync(file("client.pem"), "utf8"),
    clientKeyPem: readFileSync(file("client.key"), "utf8"),
    clientCertFile: file("client.pem"),
    clientKeyFile: file("client.key"),
    caPem: readFileSync(file("ca.pem"), "utf8"),
    caFile: file("ca.pem"),
    certPem: readFileSync(file("server.pem"), "utf8"),
    keyPem: readFileSync(file("server.key"), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
