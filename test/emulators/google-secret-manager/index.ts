import * as grpc from "@grpc/grpc-js";
import type { EmulatorHandle } from "../cli.js";
import { FaultInjector } from "../common/faults.js";
import { closeServer, startHttpFrontend } from "../google-common/http-frontend.js";
import { bindInsecure } from "../google-common/protos.js";
import { secretManagerGrpcService } from "./grpc-service.js";
import { secretManagerRest } from "./rest-service.js";
import { SecretManagerStore } from "./store.js";

export interface SecretManagerEmulator extends EmulatorHandle {
  /** `host:port` of the HTTP/JSON (REST) mapping, which also serves /admin. */
  restEndpoint: string;
  adminUrl: string;
  store: SecretManagerStore;
  faults: FaultInjector;
}

/**
 * google.cloud.secretmanager.v1.SecretManagerService on loopback: gRPC (insecure) on `port`,
 * and its REST mapping plus the admin API on a second, free port.
 */
export const startEmulator = (async ({ host, port }) => {
  const store = new SecretManagerStore();
  const faults = new FaultInjector();
  const server = new grpc.Server();
  const { definition, handlers } = secretManagerGrpcService(store, faults);
  server.addService(definition, handlers);
  const boundPort = await bindInsecure(server, host, port);
  const http = await startHttpFrontend({
    host,
    port: 0,
    faults,
    rest: secretManagerRest(store, faults),
    actions: {
      // Corrupts the payload of the next `times` AccessSecretVersion answers, keeping their checksum.
      corrupt: (body: { times?: number }) => {
        store.corruptAccesses = body.times ?? 1;
        return { corruptAccesses: store.corruptAccesses };
      },
    },
  });
  return {
    endpoint: `${host}:${boundPort}`,
    restEndpoint: http.address,
    adminUrl: `${http.url}/admin`,
    store,
    faults,
    details: { transport: "grpc", restEndpoint: http.address, admin: `${http.url}/admin` },
    close: async () => {
      server.forceShutdown();
      await closeServer(http.server);
    },
  };
}) satisfies (options: { host: string; port: number }) => Promise<SecretManagerEmulator>;
