import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { encodeEnvelope, type UniversalHandler, type UniversalServerRequest, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { setTrailerStatus, trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { ListenerFaults } from "./listener-faults.js";
import { settleAuthority } from "./request-authority.js";

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;

/**
 * connect-node's `connectNodeAdapter`, with one difference: a unary request whose binary body is
 * not a valid message is answered `invalid_argument`, in each protocol's own way (Connect,
 * gRPC-Web and gRPC). connect-es shares one binary serializer between clients (where a bad
 * message is the server's fault: `internal`) and servers, so it answers a caller's malformed body
 * with `internal`; JSON bodies already get `invalid_argument`. The body is checked before
 * connect-es parses it again.
 *
 * A request without an authority (HTTP/1.0 without Host, HTTP/2 without :authority) gets the
 * listener's own address: connect-node would otherwise throw out of the request handler.
 */
export function connectAdapter(options: ConnectRouterOptions & {
  routes: (router: ConnectRouter) => void;
  contextValues: (request: NodeRequest) => ContextValues;
  fallback: (request: NodeRequest, response: NodeResponse) => void;
  readMaxBytes: number;
  /** The listener's own host:port. */
  authority: () => string;
  faults: ListenerFaults;
}): (request: NodeRequest, response: NodeResponse) => void {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  options.routes(router);
  const handlers = new Map(router.handlers.map((handler) => [handler.requestPath, guardBinaryBody(handler, options.readMaxBytes)]));
  return (request, response) => {
    const handler = handlers.get((request.url ?? "").split("?", 2)[0] ?? "");
    if (!handler) return options.fallback(request, response);
    const problem = settleAuthority(request, options.authority());
    if (problem) {
      options.faults.peer("bad_authority");
      (response as ServerResponse).writeHead(400, { "content-type": "application/json" });
      response.end(JSON.stringify({ code: "invalid_argument", message: problem }));
      return;
    }
    const universal = universalRequestFromNodeRequest(request as IncomingMessage, response as ServerResponse, undefined, options.contextValues(request));
    handler(universal)
      .then((answer) => universalResponseToNodeResponse(answer, response as ServerResponse))
      .catch((reason: unknown) => {
        // connect-es answers every failure of a call itself; what rejects here is a response
        // the peer stopped reading (aborted), or a bug.
        if (ConnectError.from(reason).code === Code.Aborted) return options.faults.peer("response_error", reason);
        options.faults.unexpected("handler", reason);
        response.destroy();
      });
  };
}

/** The binary protocols whose bodies are checked, by content type. */
const BINARY_PROTOCOLS: ReadonlyMap<string, "connect" | "grpc-web" | "grpc"> = new Map([
  ["application/proto", "connect"],
  ["application/grpc-web", "grpc-web"],
  ["application/grpc-web+proto", "grpc-web"],
  ["application/grpc", "grpc"],
  ["application/grpc+proto", "grpc"],
]);

// gRPC and gRPC-Web carry each message in an envelope: a flags byte, then a 4-byte length.
const ENVELOPE_HEADER_BYTES = 5;

function guardBinaryBody(handler: UniversalHandler, readMaxBytes: number): (request: UniversalServerRequest) => Promise<UniversalServerResponse> {
  return async (request) => {
    const contentType = request.header.get("content-type") ?? "";
    const protocol = BINARY_PROTOCOLS.get(contentType);
    // Compressed bodies are left to connect-es, which decompresses (and limits) them.
    const encoding = request.header.get(protocol === "connect" ? "content-encoding" : "grpc-encoding");
    if (!protocol || (encoding && encoding !== "identity") || !isByteStream(request.body)) {
      return handler(request);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const iterator = request.body[Symbol.asyncIterator]();
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      chunks.push(next.value);
      size += next.value.byteLength;
      // Too big to check here: connect-es enforces the limit itself.
      if (size > readMaxBytes) return handler({ ...request, body: replay(chunks, iterator) });
    }
    const body = Buffer.concat(chunks);
    const message = protocol === "connect" ? body : singleMessage(body);
    if (message) {
      try {
        fromBinary(handler.method.input, message);
      } catch (error) {
        return invalidBody(protocol, contentType, `request body is not a valid ${handler.method.input.typeName} message: ${(error as Error).message}`);
      }
    }
    return handler({ ...request, body: single(body) });
  };
}

/** The message of a body holding exactly one uncompressed envelope; anything else is connect-es's to judge. */
function singleMessage(body: Buffer): Buffer | undefined {
  if (body.length < ENVELOPE_HEADER_BYTES || body[0] !== 0) return undefined;
  const length = body.readUInt32BE(1);
  return body.length === ENVELOPE_HEADER_BYTES + length ? body.subarray(ENVELOPE_HEADER_BYTES) : undefined;
}

function invalidBody(protocol: "connect" | "grpc-web" | "grpc", contentType: string, message: string): UniversalServerResponse {
  if (protocol === "connect") {
    return {
      status: 400,
      header: new Headers({ "content-type": "application/json" }),
      body: single(new TextEncoder().encode(JSON.stringify({ code: "invalid_argument", message }))),
    };
  }
  const status = setTrailerStatus(new Headers(), new ConnectError(message, Code.InvalidArgument));
  if (protocol === "grpc-web") {
    // gRPC-Web sends its trailers as the body's last envelope.
    return { status: 200, header: new Headers({ "content-type": contentType }), body: single(encodeEnvelope(trailerFlag, trailerSerialize(status))) };
  }
  return { status: 200, header: new Headers({ "content-type": contentType }), body: single(new Uint8Array(0)), trailer: status };
}

function isByteStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

async function* single(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

async function* replay(chunks: Uint8Array[], rest: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  yield* chunks;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}
