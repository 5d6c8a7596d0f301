import * as grpc from "@grpc/grpc-js";

/**
 * The ceiling for the gRPC benchmark: a raw @grpc/grpc-js unary handler that decodes nothing and
 * answers fixed bytes (the size of a real cache-hit Read response), on the same path.
 * Usage: node noop-server.js RESPONSE_HEX → prints the bound port.
 */
const response = Buffer.from(process.argv[2] ?? "", "hex");
const server = new grpc.Server();
server.addService(
  {
    read: {
      path: "/secretgate.v1.SecretService/Read",
      requestStream: false,
      responseStream: false,
      requestSerialize: (bytes: Buffer) => bytes,
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (bytes: Buffer) => bytes,
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  },
  {
    read: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
      callback(null, response),
  },
);
// Exits on SIGTERM, so that a profile asked for with --cpu-prof is written (bench/run.ts).
process.on("SIGTERM", () => process.exit(0));
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(port);
});
process.on("SIGTERM", () => server.forceShutdown());
