import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AdminService } from "../../gen/secretgate/v1/admin_service_pb.js";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";

/** Where the token lives: this tab only, gone when it closes; never a cookie, so no CSRF. */
const TOKEN_KEY = "secretgate.token";

/** The two generated clients the console calls: SecretService (team settings, hosted keys) and AdminService (the operator's RPCs). */
export interface Clients {
  secrets: Client<typeof SecretService>;
  admin: Client<typeof AdminService>;
}

export function storedToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The generated Connect clients, over this origin, sending the token as `authorization`. */
export function clientsFor(token: string): Clients {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  const transport = createConnectTransport({ baseUrl: location.origin, interceptors: [bearer] });
  return { secrets: createClient(SecretService, transport), admin: createClient(AdminService, transport) };
}
