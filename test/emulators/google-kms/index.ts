import * as grpc from "@grpc/grpc-js";
import type { EmulatorHandle } from "../cli.js";
import { FaultInjector } from "../common/faults.js";
import { applyFault, EmulatorError } from "../google-common/faults.js";
import { closeServer, startHttpFrontend } from "../google-common/http-frontend.js";
import { bindInsecure, grpcError, loadGoogleService } from "../google-common/protos.js";
import { forGrpc } from "../google-common/views.js";
import { KmsKeys } from "./keys.js";

/** A key that exists from the start, so `npm run emulator -- google-kms` is usable at once. */
export const DEFAULT_KEY = "projects/emulator-project/locations/global/keyRings/secretgate/cryptoKeys/default";

export interface KmsEmulator extends EmulatorHandle {
  adminUrl: string;
  keys: KmsKeys;
  faults: FaultInjector;
}

/**
 * google.cloud.kms.v1.KeyManagementService (Encrypt, Decrypt) on loopback over insecure gRPC,
 * from the SDK's own .proto files; the admin API (faults, call counts, keys) on a second port.
 */
export async function startEmulator({ host, port }: { host: string; port: number }): Promise<KmsEmulator> {
  const keys = new KmsKeys();
  keys.create(DEFAULT_KEY);
  const faults = new FaultInjector();
  const definition = loadGoogleService(
    "@google-cloud/kms",
    "google/cloud/kms/v1/service.proto",
    "google.cloud.kms.v1.KeyManagementService",
  );
  const handler =
    (operation: "Encrypt" | "Decrypt") =>
    (call: grpc.ServerUnaryCall<Record<string, any>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      applyFault(faults, operation)
        .then(() => (operation === "Encrypt" ? keys.encrypt(call.request) : keys.decrypt(call.request)))
        .then(
          (response) => callback(null, forGrpc(response)),
          (error: unknown) =>
            callback(
              error instanceof EmulatorError
                ? grpcError(error.code, error.message)
                : grpcError(grpc.status.INTERNAL, String(error)),
            ),
        );
    };
  const server = new grpc.Server();
  server.addService(definition, { Encrypt: handler("Encrypt"), Decrypt: handler("Decrypt") });
  const boundPort = await bindInsecure(server, host, port);
  const http = await startHttpFrontend({
    host,
    port: 0,
    faults,
    actions: {
      keys: (body: { name: string }) => ({ name: keys.create(body.name) }),
      // Corrupts the plaintext of the next `times` Decrypt answers, keeping their checksum.
      corrupt: (body: { times?: number }) => {
        keys.corruptDecrypts = body.times ?? 1;
        return { corruptDecrypts: keys.corruptDecrypts };
      },
    },
  });
  return {
    endpoint: `${host}:${boundPort}`,
    adminUrl: `${http.url}/admin`,
    keys,
    faults,
    details: { transport: "grpc", key: DEFAULT_KEY, admin: `${http.url}/admin` },
    close: async () => {
      server.forceShutdown();
      await closeServer(http.server);
    },
  };
}
