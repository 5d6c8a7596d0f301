import type { IncomingMessage, ServerResponse } from "node:http";
import { constants, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";

/**
 * After an HTTP/1.1 answer, how long a connection whose request body was left unread stays half
 * open before it is closed: long enough for the caller to read the answer before the close
 * (closing with unread data in the socket sends a reset, which may discard the answer on the
 * caller's side), as Go's net/http waits before closing such a connection.
 */
export const UNREAD_BODY_LINGER_MS = 500;

/**
 * A request refused before its body was read whole must not go on costing the listener: left to
 * Node, an HTTP/1.1 connection then sits paused, unnoticed until the idle timeout, or reads and
 * drops the rest at line rate; an HTTP/2 stream stays open (and its connection busy) for as long as
 * the caller sends. So once the answer is written, if the body is still incomplete: on HTTP/2 the
 * stream is reset with NO_ERROR, which tells the caller to stop sending (RFC 9113 §8.1); on
 * HTTP/1.1 the connection is half closed, then closed after UNREAD_BODY_LINGER_MS.
 */
export function endUnreadBody(
  request: IncomingMessage | Http2ServerRequest,
  response: ServerResponse | Http2ServerResponse,
): void {
  if ("stream" in request) {
    // The compatibility response reports 'finish' only once the whole stream has closed; the stream's own writable
    // side says when the answer is out.
    const stream = request.stream;
    stream.once("finish", () => {
      if (!request.complete) stream.close(constants.NGHTTP2_NO_ERROR);
    });
    return;
  }
  response.once("finish", () => {
    if (request.complete) return;
    const socket = request.socket;
    socket.end();
    setTimeout(() => socket.destroy(), UNREAD_BODY_LINGER_MS).unref();
  });
}

/**
 * A request whose body was not complete within body_timeout_ms is cut off: on HTTP/2 its stream
 * is reset with CANCEL (the compatibility request's own destroy() leaves the stream open, and its
 * connection busy, for as long as the caller likes), on HTTP/1.1 its connection is closed.
 */
export function cancelLateBody(request: IncomingMessage | Http2ServerRequest): void {
  if ("stream" in request) {
    request.stream.close(constants.NGHTTP2_CANCEL);
    return;
  }
  request.destroy();
}
