/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum Secret Manager and Cloud
 * KMS use for payload integrity. No CRC32C package is installed (node:zlib's crc32 is the IEEE
 * polynomial), so this is the standard byte-at-a-time table implementation: payloads are at
 * most 64 KiB, where a table walk costs microseconds.
 */
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    table[byte] = crc >>> 0;
  }
  return table;
})();

export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The SDKs carry int64 checksums as number, string or Long depending on transport and
 * loader options; compares one against the data's CRC32C.
 */
export function checksumMatches(data: Uint8Array, checksum: unknown): boolean {
  return checksumValue(checksum) === crc32c(data);
}

/** The numeric value of an int64 checksum field, or undefined when absent. */
export function checksumValue(checksum: unknown): number | undefined {
  if (checksum === null || checksum === undefined) return undefined;
  if (typeof checksum === "number") return checksum;
  if (typeof checksum === "string" || typeof checksum === "bigint") return Number(checksum);
  if (typeof checksum === "object") {
    // google.protobuf.Int64Value arrives as { value }; protobufjs Long as { low, high }.
    if ("value" in checksum) return checksumValue((checksum as { value: unknown }).value);
    if ("low" in checksum && "high" in checksum) {
      const { low, high } = checksum as { low: number; high: number };
      return (high >>> 0) * 2 ** 32 + (low >>> 0);
    }
  }
  return Number.NaN;
}
