import type { Socket } from "node:net";
import { Duplex } from "node:stream";

// The first bytes of every HTTP/2 connection without TLS (RFC 9113 §3.4). No HTTP/1 method starts
// with "PRI", so three bytes decide.
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");
const DECIDING_BYTES = 3;

/**
 * One plain-text port for both protocols: reads a connection's first bytes and hands it to HTTP/2
 * (prior knowledge, as gRPC and Connect clients use it) or HTTP/1.
 */
export function sniffHttpVersion(socket: Socket, serve: { http1(socket: Socket): void; http2(stream: Duplex): void }): void {
  let first: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    first = first.length === 0 ? chunk : Buffer.concat([first, chunk]);
    const prefix = first.subarray(0, HTTP2_PREFACE.length);
    const http2 = prefix.equals(HTTP2_PREFACE.subarray(0, prefix.length));
    if (http2 && first.length < DECIDING_BYTES) return;
    socket.off("data", onData);
    socket.pause();
    if (http2) {
      serve.http2(replayingStream(socket, first));
    } else {
      socket.unshift(first);
      serve.http1(socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
}

/**
 * The HTTP/2 session reads straight from a socket's native handle, so bytes already read in
 * JavaScript (the sniffed preface) cannot be pushed back. Wrapping the socket in a plain
 * Duplex that first replays them makes Node run the session over the stream instead.
 * The socket's errors are counted where it was accepted; the stream just closes with it.
 */
function replayingStream(socket: Socket, first: Buffer): Duplex {
  const stream = new Duplex({
    read: () => socket.resume(),
    write: (chunk, encoding, callback) => socket.write(chunk, encoding, callback),
    final: (callback) => socket.end(callback),
    destroy: (error, callback) => {
      socket.destroy();
      callback(error);
    },
  });
  Object.defineProperties(stream, {
    remoteAddress: { value: socket.remoteAddress },
    remotePort: { value: socket.remotePort },
    remoteFamily: { value: socket.remoteFamily },
  });
  stream.push(first);
  socket.on("data", (chunk) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on("end", () => stream.push(null));
  socket.on("close", () => stream.destroy());
  return stream;
}
