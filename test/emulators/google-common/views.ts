/**
 * Formats emulator messages for a transport: protobuf Timestamp objects for gRPC, proto3 JSON
 * (RFC 3339 times, base64 bytes) for REST.
 */
export function forGrpc(value: unknown): any {
  if (value instanceof Date)
    return { seconds: String(Math.floor(value.getTime() / 1000)), nanos: (value.getTime() % 1000) * 1e6 };
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(forGrpc);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, forGrpc(item)]));
  return value;
}

export function forJson(value: unknown): any {
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(forJson);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, forJson(item)]));
  return value;
}
