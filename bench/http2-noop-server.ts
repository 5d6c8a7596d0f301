import { constants, createServer } from "node:http2";

/**
 * The second ceiling for the gRPC benchmark: gRPC answered straight on Node's HTTP/2, without
 * grpc-js, with fixed bytes (the size of a real cache-hit Read response). It reads nothing of the
 * request but lets it arrive, and answers each stream with headers, one message and trailers.
 * Usage: node http2-noop-server.js RESPONSE_HEX → prints the bound port.
 */
const message = Buffer.from(process.argv[2] ?? "", "hex");
const frame = Buffer.alloc(5 + message.length);
frame.writeUInt32BE(message.length, 1);
message.copy(frame, 5);

const server = createServer();
server.on("stream", (stream) => {
  stream.on("error", () => undefined);
  stream.resume();
  stream.on("end", () => {
    stream.respond(
      { [constants.HTTP2_HEADER_STATUS]: 200, "content-type": "application/grpc" },
      { waitForTrailers: true },
    );
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(frame);
  });
});
server.listen(0, "127.0.0.1", () => console.log((server.address() as { port: number }).port));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
