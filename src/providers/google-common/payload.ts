/**
 * Google payloads are bytes. Values written through secretgate are UTF-8 text; a payload that
 * is not valid UTF-8 (written by another tool) is returned as bytes rather than decoded with
 * replacement characters, so a value is never silently altered.
 */
export function decodePayload(bytes: Uint8Array): { text: string } | { binary: Uint8Array } {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    return { binary: new Uint8Array(bytes) };
  }
}
