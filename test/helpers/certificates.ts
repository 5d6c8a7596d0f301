import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

/** A throwaway certificate authority made with the openssl CLI, issuing server and client certificates. */
export class TestCa {
  private readonly dir = mkdtempSync(join(tmpdir(), "secretgate-ca-"));
  readonly root: Pem;
  private serial = 1;

  constructor(readonly name: string) {
    this.root = this.make("ca", [
      "-x509",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
  }

  /** A certificate for 127.0.0.1 / localhost. */
  server(): Pem {
    return this.issue(
      "server",
      "/CN=127.0.0.1",
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth",
    );
  }

  client(commonName: string, san?: string): Pem {
    return this.issue(
      `client-${commonName}`,
      `/CN=${commonName}`,
      `extendedKeyUsage=clientAuth${san ? `\nsubjectAltName=${san}` : ""}`,
    );
  }

  private issue(label: string, subject: string, extensions: string): Pem {
    const base = join(this.dir, `${label}-${this.serial}`);
    const request = this.make(label, ["-subj", subject], true);
    const extFile = `${base}.ext`;
    execFileSync("sh", ["-c", `printf '%s\\n' "$1" > "$2"`, "sh", extensions, extFile]);
    execFileSync(
      "openssl",
      [
        "x509",
        "-req",
        "-in",
        `${request.certFile}`,
        "-CA",
        this.root.certFile,
        "-CAkey",
        this.root.keyFile,
        "-set_serial",
        String(this.serial++ + 1000),
        "-days",
        "2",
        "-extfile",
        extFile,
        "-out",
        `${base}.crt`,
      ],
      { stdio: "ignore" },
    );
    return {
      cert: readFileSync(`${base}.crt`, "utf8"),
      key: request.key,
      certFile: `${base}.crt`,
      keyFile: request.keyFile,
    };
  }

  private make(label: string, args: string[], csr = false): Pem {
    const base = join(this.dir, `${label}-${this.serial++}`);
    execFileSync(
      "openssl",
      [
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        `${base}.key`,
        "-out",
        csr ? `${base}.csr` : `${base}.crt`,
        "-days",
        "2",
        ...args,
      ],
      { stdio: "ignore" },
    );
    return {
      cert: readFileSync(csr ? `${base}.csr` : `${base}.crt`, "utf8"),
      key: readFileSync(`${base}.key`, "utf8"),
      certFile: csr ? `${base}.csr` : `${base}.crt`,
      keyFile: `${base}.key`,
    };
  }
}
