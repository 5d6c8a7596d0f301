import type { Socket } from "node:net";

// The first bytes of every HTTP/2 connection without TLS (RFC 9113 §3.4). No HTTP/1 method starts
// with "PRI", so three bytes decide.
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");
const DECIDING_BYTES = 3;

/**
 * One plain-text port for both protocols: reads a connection's first bytes and hands it to HTTP/2
 * (prior knowledge, as gRPC and Connect clients use it) or HTTP/1.
 */
export function sniffHttpVersion(
  socket: Socket,
  serve: { http1(socket: Socket): void; http2(socket: Socket): void },
): void {
  firstBytes(
    socket,
    (bytes) => !isHttp2Prefix(bytes) || bytes.length >= DECIDING_BYTES,
    (bytes) => {
      if (isHttp2Prefix(bytes)) return serve.http2(socket);
      serve.http1(socket);
      socket.resume();
    },
  );
}

/**
 * Hands a connection over once it has sent something: a connection that never speaks then costs
 * a socket, not an HTTP/2 session (about 17 KB of nghttp2 and JavaScript state each, which
 * max_connections silent sockets would otherwise hold).
 */
export function onceSpoken(socket: Socket, serve: (socket: Socket) => void): void {
  firstBytes(
    socket,
    () => true,
    () => serve(socket),
  );
}

function isHttp2Prefix(bytes: Buffer): boolean {
  const prefix = bytes.subarray(0, HTTP2_PREFACE.length);
  return prefix.equals(HTTP2_PREFACE.subarray(0, prefix.length));
}

/**
 * Reads until `enough` says so, then puts what was read back and hands the socket over paused.
 * An HTTP/2 session takes over the socket's native handle but first consumes what the socket
 * already buffered (Node does this for data read before the session existed), and an HTTP/1
 * server reads it like any other data once resumed.
 */
function firstBytes(socket: Socket, enough: (bytes: Buffer) => boolean, then: (bytes: Buffer) => void): void {
  let read: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    read = read.length === 0 ? chunk : Buffer.concat([read, chunk]);
    if (!enough(read)) return;
    socket.off("data", onData);
    socket.pause();
    socket.unshift(read);
    then(read);
  };
  socket.on("data", onData);
}
