import { readFileSync } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import { ServerCredentials } from "@grpc/grpc-js";
import { ConfigError } from "../config/config-error.js";

export interface TlsFiles {
  cert_file: string;
  key_file: string;
  client_ca_file?: string | undefined;
}

/**
 * The listeners' certificate, key and client CA, read from PEM files and re-read on `reload()`
 * (SIGHUP). Both listeners get new secure contexts from it (grpc-js through its credentials'
 * watcher, the HTTP listener through `setSecureContext`), so new connections get the new
 * certificate while open ones carry on.
 */
export class TlsMaterial {
  private cert!: Buffer;
  private key!: Buffer;
  private ca: Buffer | undefined;
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
    for (const listener of this.reloadListeners) listener();
  }

  onReload(listener: () => void): void {
    this.reloadListeners.add(listener);
  }

  /** grpc-js credentials that follow reloads. */
  grpcCredentials(): ServerCredentials {
    return new ReloadingGrpcCredentials(this);
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

/**
 * grpc-js server credentials fed from TlsMaterial. Subclassing ServerCredentials (its extension
 * point) gives what createSsl cannot: optional client certificates (requestCert without
 * rejecting clients that send none — they may use bearer tokens; grpc-js reports only verified
 * certificates) and new secure contexts on reload.
 */
class ReloadingGrpcCredentials extends ServerCredentials {
  constructor(tls: TlsMaterial) {
    const { requestCert, rejectUnauthorized, ...context } = tls.secureContextOptions();
    super({ requestCert, rejectUnauthorized }, context);
    tls.onReload(() => {
      const { requestCert: _request, rejectUnauthorized: _reject, ...next } = tls.secureContextOptions();
      this.updateSecureContextOptions(next);
    });
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}
