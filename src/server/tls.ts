import { readFileSync } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import type { experimental } from "@grpc/grpc-js";
import { ConfigError } from "../config/config-error.js";

type CertificateProvider = experimental.CertificateProvider;
type CaListener = Parameters<CertificateProvider["addCaCertificateListener"]>[0];
type IdentityListener = Parameters<CertificateProvider["addIdentityCertificateListener"]>[0];

export interface TlsFiles {
  cert_file: string;
  key_file: string;
  client_ca_file?: string | undefined;
}

/**
 * The listeners' certificate, key and client CA, read from PEM files and re-read on `reload()`
 * (SIGHUP). It feeds grpc-js through its CertificateProvider interface and the HTTP listener
 * through `setSecureContext`, so new connections get the new certificate while open ones
 * carry on.
 */
export class TlsMaterial implements CertificateProvider {
  private cert!: Buffer;
  private key!: Buffer;
  private ca: Buffer | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly reloadListeners = new Set<() => void>();

  constructor(private readonly files: TlsFiles) {
    this.read();
  }

  get mutual(): boolean {
    return this.ca !== undefined;
  }

  /** Options for Node's TLS servers. Client certificates are asked for but optional (tokens work too); only verified ones count. */
  secureContextOptions(): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
    return { cert: this.cert, key: this.key, ...(this.ca ? { ca: this.ca } : {}), requestCert: this.mutual, rejectUnauthorized: false };
  }

  /** Re-reads the files; on failure the old material stays in use and the error is thrown. */
  reload(): void {
    this.read();
    for (const listener of this.identityListeners) listener({ certificate: this.cert, privateKey: this.key });
    for (const listener of this.caListeners) listener(this.ca ? { caCertificate: this.ca } : null);
    for (const listener of this.reloadListeners) listener();
  }

  onReload(listener: () => void): void {
    this.reloadListeners.add(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    listener(this.ca ? { caCertificate: this.ca } : null);
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    listener({ certificate: this.cert, privateKey: this.key });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private read(): void {
    const load = (path: string, key: string) => {
      try {
        return readFileSync(path);
      } catch (error) {
        throw new ConfigError(`secretgate.tls.${key}: cannot read ${path}: ${(error as Error).message}`);
      }
    };
    const cert = load(this.files.cert_file, "cert_file");
    const key = load(this.files.key_file, "key_file");
    const ca = this.files.client_ca_file ? load(this.files.client_ca_file, "client_ca_file") : undefined;
    this.cert = cert;
    this.key = key;
    this.ca = ca;
  }
}
