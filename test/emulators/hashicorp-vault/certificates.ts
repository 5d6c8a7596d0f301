import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM files of a throw-away CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
export interface EmulatorCertificates {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

/** Made with the openssl CLI at start-up so no key material is ever committed. */
export function makeCertificates(): EmulatorCertificates {
  const dir = mkdtempSync(join(tmpdir(), "vault-emulator-tls-"));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) =>
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

  openssl(
    "req",
    "-x509",
    ...ecKey,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=vault-emulator-ca",
  );
  const issue = (name: string, subject: string, extensions: string) => {
    writeFileSync(file(`${name}.ext`), extensions);
    openssl("req", ...ecKey, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
    openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    );
  };
  issue("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  issue("client", "/CN=secretgate-client", "extendedKeyUsage=clientAuth\n");
  return {
    dir,
    caFile: file("ca.pem"),
    serverCertFile: file("server.pem"),
    serverKeyFile: file("server.key"),
    clientCertFile: file("client.pem"),
    clientKeyFile: file("client.key"),
  };
}

export const readPem = (path: string) => readFileSync(path);
