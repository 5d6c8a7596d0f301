import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, type GrpcTransportOptions } from "@connectrpc/connect-node";
import { SecretService } from "./gen/secretgate/v1/secret_service_pb.js";

/** The generated SecretService client: one async method per RPC (`read`, `write`, `delete`, …). */
export type SecretClient = Client<typeof SecretService>;

export type SecretClientOptions = Omit<GrpcTransportOptions, "baseUrl"> & {
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
};

/** A call with no deadline can hang forever on a black-holed connection; callers may pass their own. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Creates a client for the secretgate gRPC listener at `url`: `http://host:port` for plaintext HTTP/2
 * (the server's own listener), `https://host:port` for TLS (pass `nodeOptions: { ca }` for private
 * roots). Every call has a deadline (`defaultTimeoutMs`, 10 s unless set; `timeoutMs` per call), and
 * failures reject with a `ConnectError` whose `code` is the gRPC status.
 */
export function createSecretClient(url: string, options: SecretClientOptions = {}): SecretClient {
  const { token, interceptors = [], defaultTimeoutMs = DEFAULT_TIMEOUT_MS, ...transportOptions } = options;
  const protocol = new URL(url).protocol;
  if (protocol !== "http:" && protocol !== "https:") {
    throw new TypeError(`secretgate: url must start with http:// or https://, got ${protocol}`);
  }
  const transport = createGrpcTransport({
    ...transportOptions,
    baseUrl: url,
    defaultTimeoutMs,
    interceptors: token ? [bearerToken(token), ...interceptors] : interceptors,
  });
  return createClient(SecretService, transport);
}

function bearerToken(token: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
}
