/**
 * Raw HTTP/2 frames (RFC 9113 §4) for tests that speak the protocol badly on purpose: a client
 * library would refuse to send most of what these build. Header blocks use HPACK literals
 * without Huffman coding or indexing (RFC 7541 §6.2.2), which every decoder must accept.
 */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
export const Setting = {
  HEADER_TABLE_SIZE: 1,
  ENABLE_PUSH: 2,
  MAX_CONCURRENT_STREAMS: 3,
  INITIAL_WINDOW_SIZE: 4,
  MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

/** One frame; `length` may lie about the payload's size. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
  length = payload.length,
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(length & 0xffffff, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([head, payload]);
}

export function settings(entries: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], index) => {
    payload.writeUInt16BE(id, index * 6);
    payload.writeUInt32BE(value >>> 0, index * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export const SETTINGS_ACK = frame(FrameType.SETTINGS, Flag.ACK, 0);

/** The preface and an empty SETTINGS frame: what a client sends before its first stream. */
export const CLIENT_START = Buffer.concat([PREFACE, settings()]);

/** An HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInteger(value: number, prefixBits: number, firstByte = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const bytes = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function hpackString(text: string | Buffer): Buffer {
  const bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
  return Buffer.concat([hpackInteger(bytes.length, 7), bytes]);
}

/** A header block of literal fields without indexing, in the order given (bad orders included). */
export function headerBlock(fields: ReadonlyArray<readonly [string, string | Buffer]>): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0x00]), hpackString(name), hpackString(value)]));
}

/**
 * The fields of a gRPC request as a client sends them, in its order: POST, scheme, `path`,
 * authority, content type, `te: trailers`, then `extra`.
 */
export function grpcRequestFields(
  path: string,
  options: { contentType?: string; authority?: string; extra?: ReadonlyArray<readonly [string, string]> } = {},
): Array<readonly [string, string]> {
  return [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", options.authority ?? "x"],
    ["content-type", options.contentType ?? "application/grpc"],
    ["te", "trailers"],
    ...(options.extra ?? []),
  ];
}

export function headers(
  streamId: number,
  fields: ReadonlyArray<readonly [string, string | Buffer]>,
  options: { endStream?: boolean; endHeaders?: boolean } = {},
): Buffer {
  const flags = (options.endStream ? Flag.END_STREAM : 0) | (options.endHeaders === false ? 0 : Flag.END_HEADERS);
  return frame(FrameType.HEADERS, flags, streamId, headerBlock(fields));
}

export function data(streamId: number, payload: Buffer, endStream = true): Buffer {
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, payload);
}

export function rstStream(streamId: number, errorCode = 8 /* CANCEL */): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(errorCode);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment >>> 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function ping(opaque = Buffer.alloc(8)): Buffer {
  return frame(FrameType.PING, 0, 0, opaque);
}

export function goaway(lastStreamId: number, errorCode: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(errorCode, 4);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

/** A gRPC length-prefixed message (flags byte, 4-byte length, bytes); `length` may lie. */
export function envelope(message: Buffer, flags = 0, length = message.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(length >>> 0, 1);
  return Buffer.concat([head, message]);
}

/** The frames a server sent, parsed as far as they go (a truncated last frame is dropped). */
export function parseFrames(bytes: Buffer): Array<{ type: number; flags: number; streamId: number; payload: Buffer }> {
  const frames: Array<{ type: number; flags: number; streamId: number; payload: Buffer }> = [];
  let offset = 0;
  while (offset + 9 <= bytes.length) {
    const length = bytes.readUIntBE(offset, 3);
    if (offset + 9 + length > bytes.length) break;
    frames.push({
      type: bytes.readUInt8(offset + 3),
      flags: bytes.readUInt8(offset + 4),
      streamId: bytes.readUInt32BE(offset + 5) & 0x7fffffff,
      payload: bytes.subarray(offset + 9, offset + 9 + length),
    });
    offset += 9 + length;
  }
  return frames;
}

/** The error code of the first GOAWAY frame the server sent, if any. */
export function goawayCode(bytes: Buffer): number | undefined {
  const away = parseFrames(bytes).find((each) => each.type === FrameType.GOAWAY);
  return away ? away.payload.readUInt32BE(4) : undefined;
}
