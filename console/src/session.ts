import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";

/** Where the token lives: this tab only, gone when it closes; never a cookie, so no CSRF. */
const TOKEN_KEY = "secretgate.token";

export type SecretClient = Client<typeof SecretService>;

export function storedToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The generated Connect client, over this origin, sending the token as `authorization`. */
export function clientFor(token: string): SecretClient {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  return createClient(SecretService, createConnectTransport({ baseUrl: location.origin, interceptors: [bearer] }));
}
