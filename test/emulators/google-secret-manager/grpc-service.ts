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

/**
 * Runs one operation against the store: the fault (if any) first, then the store's rules. A
 * fault's `target` is a secret id; `interleave` adds a version to that secret (creating it where
 * missing) as a second client would.
 */
export async function perform(
  store: SecretManagerStore,
  faults: FaultInjector,
  operation: Operation,
  request: Message,
): Promise<Message> {
  const secret = secretNamed(request);
  await applyFault(faults, operation, {
    ...(secret ? { target: secret.id } : {}),
    interleave: (value) => secret && store.writeAsAnotherClient(secret.name, Buffer.from(value, "utf8")),
    missing: () =>
      new EmulatorError(grpc.status.NOT_FOUND, `Secret [${secret?.name ?? ""}] not found or has no versions.`),
  });
  const method = (operation[0]!.toLowerCase() + operation.slice(1)) as Uncapitalize<Operation>;
  return store[method](request);
}

/** google.cloud.secretmanager.v1.SecretManagerService on grpc-js, from the SDK's own .proto files. */
export function secretManagerGrpcService(
  store: SecretManagerStore,
  faults: FaultInjector,
): { definition: grpc.ServiceDefinition; handlers: grpc.UntypedServiceImplementation } {
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
        (error: unknown) =>
          callback(
            error instanceof EmulatorError
              ? grpcError(error.code, error.message)
              : grpcError(grpc.status.INTERNAL, String(error)),
          ),
      );
    };
  }
  return { definition, handlers };
}

/** The secret a request names (`name` or `parent` of a secret or version, or CreateSecret's id), if any. */
function secretNamed(request: Message): { name: string; id: string } | undefined {
  const named =
    typeof request.name === "string" ? request.name : typeof request.parent === "string" ? request.parent : "";
  const match = /^(projects\/[^/]+\/secrets\/([^/]+))/.exec(named);
  if (match) return { name: match[1]!, id: match[2]! };
  if (typeof request.secretId === "string" && typeof request.parent === "string")
    return { name: `${request.parent}/secrets/${request.secretId}`, id: request.secretId };
  return undefined;
}
