import { randomBytes } from "node:crypto";
import { createSecretClient, type SecretClient } from "../../clients/typescript/src/index.js";
import { TestServer } from "./server.js";

/**
 * A server started with an admin token, which every client under test sends on every call, and a
 * TypeScript client holding that token for setting up and checking state.
 */
export async function startServerWithToken(): Promise<{ server: TestServer; token: string; admin: SecretClient }> {
  const token = randomBytes(24).toString("base64url");
  const server = await TestServer.start({ env: { SECRETGATE_ADMIN_TOKEN: token } });
  return { server, token, admin: createSecretClient(`http://${server.grpcAddress}`, { token }) };
}
