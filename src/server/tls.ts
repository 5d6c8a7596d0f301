import { readFileSync } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import { ConfigError } from "../config/config-error.js";

export interface TlsFiles {
  cert_file: string;
  key_file: string;
  client_ca_file?: string | undefined;
}

/**
 * The listeners' certificate, key and client CA, read from PEM files and re-read on `reload()`
 * (SIGHUP). Both listeners terminate TLS in their own TLS servers and give them the new secure
 * context (`setSecureContext`), so new connections get the new certificate while open ones carry on.
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

  /**
   * Options for Node's TLS servers. Client certificates are asked for but optional (tokens work too); only verified
   * ones count.
   */
  secureContextOptions(): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
    return {
      cert: this.cert,
      key: this.key,
      ...(this.ca ? { ca: this.ca } : {}),
      requestCert: this.mutual,
      rejectUnauthorized: false,
    };
  }

  /** Re-reads the files; on failure the old material stays in use and the error is thrown. */
  reload(): void {
    this.read();
    for (const listener of this.reloadListeners) listener();
  }

  onReload(listener: () => void): void {
    this.reloadListeners.add(listener);
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
