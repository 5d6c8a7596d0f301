import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;

/**
 * connect-node's `connectNodeAdapter`, with one difference: a Connect unary request whose binary
 * body is not a valid message is answered `invalid_argument`. connect-es shares one binary
 * serializer between clients (where a bad message is the server's fault: `internal`) and servers,
 * so it answers a caller's malformed body with `internal`; JSON bodies already get
 * `invalid_argument`. The body is checked before connect-es parses it again.
 */
export function connectAdapter(options: ConnectRouterOptions & {
  routes: (router: ConnectRouter) => void;
  contextValues: (request: NodeRequest) => ContextValues;
  fallback: (request: NodeRequest, response: NodeResponse) => void;
  readMaxBytes: number;
}): (request: NodeRequest, response: NodeResponse) => void {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  options.routes(router);
  const handlers = new Map(router.handlers.map((handler) => [handler.requestPath, guardBinaryBody(handler, options.readMaxBytes)]));
  return (request, response) => {
    const handler = handlers.get((request.url ?? "").split("?", 2)[0] ?? "");
    if (!handler) return options.fallback(request, response);
    const universal = universalRequestFromNodeRequest(request as IncomingMessage, response as ServerResponse, undefined, options.contextValues(request));
    handler(universal)
      .then((answer) => universalResponseToNodeResponse(answer, response as ServerResponse))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code !== Code.Aborted) response.destroy();
      });
  };
}

function guardBinaryBody(handler: UniversalHandler, readMaxBytes: number): (request: UniversalServerRequest) => Promise<UniversalServerResponse> {
  return async (request) => {
    const encoding = request.header.get("content-encoding");
    if (request.header.get("content-type") !== "application/proto" || (encoding && encoding !== "identity") || !isByteStream(request.body)) {
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
    try {
      fromBinary(handler.method.input, body);
    } catch (error) {
      return {
        status: 400,
        header: new Headers({ "content-type": "application/json" }),
        body: single(
          new TextEncoder().encode(
            JSON.stringify({ code: "invalid_argument", message: `request body is not a valid ${handler.method.input.typeName} message: ${(error as Error).message}` }),
          ),
        ),
      };
    }
    return handler({ ...request, body: single(body) });
  };
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
