import * as grpc from "@grpc/grpc-js";
import type { FaultInjector } from "../common/faults.js";
import { applyFault, EmulatorError } from "../google-common/faults.js";
import { grpcError, loadGoogleService } from "../google-common/protos.js";
import { forGrpc } from "../google-common/views.js";
import type { Message, SecretManagerStore } from "./store.js";

export const OPERATIONS = [
  "CreateSecret",
  "GetSecret",
  "UpdateSecret",
  "ListSecrets",
  "DeleteSecret",
  "AddSecretVersion",
  "GetSecretVersion",
  "AccessSecretVersion",
  "DisableSecretVersion",
  "EnableSecretVersion",
  "DestroySecretVersion",
  "ListSecretVersions",
] as const;
export type Operation = (typeof OPERATIONS)[number];

/** Runs one operation against the store: the fault (if any) first, then the store's rules. */
export async function perform(store: SecretManagerStore, faults: FaultInjector, operation: Operation, request: Message): Promise<Message> {
  await applyFault(faults, operation);
  const method = (operation[0]!.toLowerCase() + operation.slice(1)) as Uncapitalize<Operation>;
  return store[method](request);
}

/** google.cloud.secretmanager.v1.SecretManagerService on grpc-js, from the SDK's own .proto files. */
export function secretManagerGrpcService(store: SecretManagerStore, faults: FaultInjector): { definition: grpc.ServiceDefinition; handlers: grpc.UntypedServiceImplementation } {
  const definition = loadGoogleService(
    "@google-cloud/secret-manager",
    "google/cloud/secretmanager/v1/service.proto",
    "google.cloud.secretmanager.v1.SecretManagerService",
  );
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const operation of OPERATIONS) {
    handlers[operation] = (call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>) => {
      perform(store, faults, operation, call.request).then(
        (response) => callback(null, forGrpc(response)),
        (error: unknown) => callback(error instanceof EmulatorError ? grpcError(error.code, error.message) : grpcError(grpc.status.INTERNAL, String(error))),
      );
    };
  }
  return { definition, handlers };
}
