import { existsSync } from "node:fs";
import { ConfigError } from "../../config/config-error.js";

export const TRANSPORTS = ["grpc", "rest"] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** Where and how a Google client connects; resolved once at start-up. */
export interface GoogleConnection {
  /** A private endpoint or emulator as `host:port`; Google's public endpoint when absent. */
  endpoint?: { host: string; port: number };
  transport: Transport;
  /** A service-account key file; application default credentials when absent. */
  keyFile?: string;
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1"]);

/** Parses `host:port` (IPv6 hosts in brackets), naming the setting it came from in errors. */
export function parseEndpoint(value: string, setting: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : 0;
  if (!match || port < 1 || port > 65535)
    throw new ConfigError(`${setting}: ${JSON.stringify(value)} must be host:port`);
  return { host: match[1] ?? match[2]!, port };
}

/** An endpoint on the loopback interface is an emulator: no TLS, no Google credentials (as PUBSUB_EMULATOR_HOST). */
export function isEmulator(connection: GoogleConnection): boolean {
  return connection.endpoint !== undefined && LOOPBACK_HOSTS.has(connection.endpoint.host);
}

/**
 * The credential file LiteLLM users already point at: GCS_PATH_SERVICE_ACCOUNT first (LiteLLM's
 * own variable), then GOOGLE_APPLICATION_CREDENTIALS; neither means application default
 * credentials (metadata server, gcloud). A named file that does not exist is a start-up error.
 */
export function credentialFile(env: Readonly<Record<string, string | undefined>>): string | undefined {
  for (const variable of ["GCS_PATH_SERVICE_ACCOUNT", "GOOGLE_APPLICATION_CREDENTIALS"] as const) {
    const file = env[variable];
    if (file === undefined || file === "") continue;
    if (!existsSync(file)) throw new ConfigError(`${variable}: the credential file ${file} does not exist`);
    return file;
  }
  return undefined;
}

export function parseTransport(value: string | undefined, setting: string): Transport {
  const transport = value === undefined || value === "" ? "grpc" : value.toLowerCase();
  if (!(TRANSPORTS as readonly string[]).includes(transport)) {
    throw new ConfigError(`${setting}: ${JSON.stringify(value)} must be one of ${TRANSPORTS.join(", ")}`);
  }
  return transport as Transport;
}
