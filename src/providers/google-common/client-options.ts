import { type ClientOptions, GoogleAuth, googleAuthLibrary, grpc, loggingUtils } from "google-gax";
import { type GoogleConnection, isEmulator } from "./connection.js";

/**
 * SDK client options for a connection: endpoint, transport (`fallback` is the SDK's HTTP/1.1 JSON mode) and
 * credentials.
 */
export function clientOptions(connection: GoogleConnection): ClientOptions {
  // GOOGLE_SDK_NODE_LOGGING makes the SDKs print request and response bodies — secret values
  // and plaintexts. secretgate logs its own calls, value-free; the SDKs' debug log stays off.
  loggingUtils.setBackend(null);
  const options: ClientOptions = { fallback: connection.transport === "rest" };
  if (connection.endpoint) {
    options.apiEndpoint = connection.endpoint.host;
    options.port = connection.endpoint.port;
  }
  if (isEmulator(connection)) {
    return {
      ...options,
      sslCreds: grpc.credentials.createInsecure(),
      // A client that adds no Authorization header: the SDK never looks for credentials.
      auth: new GoogleAuth({ authClient: new googleAuthLibrary.PassThroughClient() }),
      ...(connection.transport === "rest" ? { protocol: "http" } : {}),
    } as ClientOptions;
  }
  return connection.keyFile ? { ...options, keyFilename: connection.keyFile } : options;
}
