import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { DescMethodUnary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
  createConnectRouter,
} from "@connectrpc/connect";
import type {
  Compression,
  UniversalHandler,
  UniversalServerRequest,
  UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { type ArrivingBodies, type BodyHold, tooMuchArriving } from "./arriving-bodies.js";
import { refusal } from "./fast-path/unary-answers.js";
import type { ListenerFaults } from "./listener-faults.js";
import { settleAuthority } from "./request-authority.js";
import { type BodyFormat, bodyFormat, checkUnaryBody } from "./request-body.js";
import { cancelLateBody, endUnreadBody } from "./unread-bodies.js";

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;

/** The compressions a request may use, and a response is offered in. */
export const COMPRESSIONS: readonly Compression[] = [compressionGzip, compressionBrotli];

/**
 * connect-node's `connectNodeAdapter`, with the checks a server needs that connect-es leaves to
 * its clients:
 *
 * - A unary call's body is read and checked first (request-body.ts), so a malformed one —
 *   corrupt compression, no envelope or two, a cut-off one, a message that does not decode, in any
 *   content-type spelling — is answered `invalid_argument` in its protocol's own shape, where
 *   connect-es would say `internal`. `refused` hears of every call refused this way (for its
 *   audit record): it never reaches the service.
 * - A request without an authority (HTTP/1.0 without Host, HTTP/2 without :authority) gets the
 *   listener's own; connect-node would otherwise throw out of the request handler.
 * - Every request body counts against the listener's ArrivingBodies while it arrives.
 */
export function connectAdapter(
  options: ConnectRouterOptions & {
    routes: (router: ConnectRouter) => void;
    contextValues: (request: NodeRequest) => ContextValues;
    fallback: (request: NodeRequest, response: NodeResponse) => void;
    refused: (method: DescMethodUnary, request: NodeRequest, error: ConnectError) => void;
    readMaxBytes: number;
    bodies: ArrivingBodies;
    /** The listener's own host:port. */
    authority: () => string;
    faults: ListenerFaults;
  },
): (request: NodeRequest, response: NodeResponse) => void {
  const router = createConnectRouter({ acceptCompression: [...COMPRESSIONS], ...options });
  options.routes(router);
  const handlers = new Map(router.handlers.map((handler) => [handler.requestPath, handler]));
  // An answer of undefined: the peer went away before its body ended (counted where that was seen).
  const send = (answer: Promise<UniversalServerResponse | undefined>, response: NodeResponse) =>
    answer
      .then((universal) => universal && universalResponseToNodeResponse(universal, response as ServerResponse))
      .catch((reason: unknown) => {
        // Every failure of a call is answered above; what rejects here is a peer that went
        // away (while sending its body, or reading the response), or a bug.
        const code = ConnectError.from(reason).code;
        if (code === Code.Aborted || code === Code.Canceled) return options.faults.peer("response_error", reason);
        options.faults.unexpected("handler", reason);
        response.destroy();
      });

  return (request, response) => {
    const handler = handlers.get((request.url ?? "").split("?", 2)[0] ?? "");
    if (!handler) return options.fallback(request, response);
    const method = handler.method as DescMethodUnary;
    const format = bodyFormat(request.method, headerValue(request.headers["content-type"]));
    const problem = settleAuthority(request, options.authority());
    if (problem) {
      options.faults.peer("bad_authority");
      const error = new ConnectError(problem, Code.InvalidArgument);
      options.refused(method, request, error);
      endUnreadBody(request, response);
      return void send(Promise.resolve(refusalResponse(format ?? CONNECT_JSON, error)), response);
    }
    const universal = universalRequestFromNodeRequest(
      request as IncomingMessage,
      response as ServerResponse,
      undefined,
      options.contextValues(request),
    );
    if (!isByteStream(universal.body)) return send(handler(universal), response);
    // A late body's request is reset (HTTP/2) or its connection closed (HTTP/1).
    const hold = options.bodies.hold(() => cancelLateBody(request));
    send(
      format
        ? checkedCall(handler, universal, universal.body, format, request, response, hold)
        : handler({ ...universal, body: counted(universal.body, hold) }),
      response,
    );
  };

  async function checkedCall(
    handler: UniversalHandler,
    request: UniversalServerRequest,
    body: AsyncIterable<Uint8Array>,
    format: BodyFormat,
    nodeRequest: NodeRequest,
    nodeResponse: NodeResponse,
    hold: BodyHold,
  ): Promise<UniversalServerResponse | undefined> {
    let checked: Awaited<ReturnType<typeof checkUnaryBody>>;
    try {
      checked = await checkUnaryBody({ header: request.header, body }, format, handler.method.input, {
        readMaxBytes: options.readMaxBytes,
        compressions: COMPRESSIONS,
        hold,
      });
    } catch (error) {
      // Only reading the body throws (every check returns its refusal): the peer went away
      // before its body ended. Its doing, not a bug of ours, and no one is left to answer.
      options.faults.peer("request_error", error);
      return undefined;
    } finally {
      hold.close();
    }
    if (checked instanceof ConnectError) {
      options.refused(handler.method as DescMethodUnary, nodeRequest, checked);
      endUnreadBody(nodeRequest, nodeResponse);
      return refusalResponse(format, checked);
    }
    return handler({ ...request, header: checked.header, body: single(checked.body) });
  }
}

const CONNECT_JSON: BodyFormat = { protocol: "connect", binary: false };

/** A refused call's answer, in its protocol's own error shape. */
function refusalResponse(format: BodyFormat, error: ConnectError): UniversalServerResponse {
  const { body, ...answer } = refusal(format, error);
  return { ...answer, body: single(body) };
}

function headerValue(value: string | string[] | undefined): string | null {
  return typeof value === "string" ? value : null;
}

function isByteStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

async function* single(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** A body connect-node reads itself (streaming calls, GET), counted while it arrives. */
async function* counted(body: AsyncIterable<Uint8Array>, hold: BodyHold): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of body) {
      if (!hold.take(chunk.byteLength)) throw tooMuchArriving(hold.maxBytes);
      yield chunk;
    }
  } finally {
    hold.close();
  }
}
