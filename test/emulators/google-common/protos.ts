import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const require = createRequire(import.meta.url);

/** The build/protos directory an installed package ships (the SDKs and google-gax all keep their .proto files there). */
function shippedProtos(packageName: string): string {
  return join(dirname(require.resolve(packageName)), "..", "protos");
}

/**
 * Loads a service definition from the .proto files the Google SDK packages ship in
 * node_modules, with google-gax's copies of google/api, google/iam, … as include paths,
 * so the emulators speak exactly the wire format the SDK version in use expects.
 */
export function loadGoogleService(sdkPackage: string, protoFile: string, serviceName: string): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync(protoFile, {
    includeDirs: [shippedProtos(sdkPackage), shippedProtos("google-gax")],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const service = definition[serviceName] as grpc.ServiceDefinition | undefined;
  if (!service) throw new Error(`${protoFile} does not define ${serviceName}`);
  return service;
}

/** A gRPC error with a real status code, as the Google front end sends them. */
export function grpcError(code: grpc.status, message: string): grpc.ServiceError {
  return Object.assign(new Error(message), { code, details: message, metadata: new grpc.Metadata() });
}

export async function bindInsecure(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
}
