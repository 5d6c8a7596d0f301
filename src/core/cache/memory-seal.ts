import { type Cipheriv, createCipheriv, createSecretKey, type KeyObject, randomBytes } from "node:crypto";

const BLOCK = 16;
/** The largest layout buffer kept between calls. */
const KEPT_SCRATCH_BYTES = 64 * 1024;

/** A value sealed for the in-memory cache: the ciphertext (one byte per char) and its unique nonce. */
export interface SealedValue {
  readonly nonce: number;
  /**
   * Held as a one-byte (latin1) string: a small Buffer per entry pins a pooled 8 KiB slab and
   * cost ~700 bytes of external memory each.
   */
  readonly sealed: string;
}

/**
 * Encrypts cached values in memory with AES-256 in counter mode under a key made at start-up
 * and never written anywhere, so a heap snapshot, core file or swapped page does not hold
 * provider keys in the clear.
 *
 * Counter mode is driven through one long-lived AES-ECB cipher used as the block function:
 * the keystream of every value of a batch comes from a single `update()` call. A cipher object
 * per value (what `createDecipheriv` does) cost ~3 µs each — 300 µs for a Read of 100 cached
 * names — while one call for the whole batch costs a few µs. The layout is standard CTR (the
 * 16-byte counter block is nonce ‖ block index, big-endian), so Node's own `aes-256-ctr`
 * decrypts the same bytes; the unit tests hold it to that.
 *
 * Nonces come from a counter and are never reused under one key. There is no authentication
 * tag: the threat is disclosure of memory; whoever can rewrite the process's memory already
 * controls what it serves. Values at rest use AES-256-GCM (storage/sealing.ts).
 */
export class MemorySeal {
  private readonly blocks: Cipheriv;
  private nextNonce = 1;
  /** Counter blocks are written here before each cipher call (the cipher copies them). */
  private counters = Buffer.alloc(64 * BLOCK);
  /** Ciphertexts are laid out here to be opened (ciphertext only: nothing here needs wiping). */
  private sealedBytes = Buffer.alloc(64 * BLOCK);

  constructor(key: KeyObject = createSecretKey(randomBytes(32))) {
    this.blocks = createCipheriv("aes-256-ecb", key, null);
    this.blocks.setAutoPadding(false);
  }

  seal(plaintext: Uint8Array): SealedValue {
    const nonce = this.nextNonce++;
    const keystream = this.keystream([{ nonce, sealed: plaintext }]);
    const bytes = Buffer.from(plaintext);
    for (let index = 0; index < bytes.length; index++) bytes[index] = bytes[index]! ^ keystream[index]!;
    // The keystream opens the value as well as the plaintext does.
    keystream.fill(0);
    return { nonce, sealed: bytes.toString("latin1") };
  }

  /**
   * Opens several values with one cipher call. Each plaintext is handed to `read` as a range of
   * one shared buffer that is wiped when all are read: `read` copies out what it keeps.
   */
  openMany<T>(
    values: readonly SealedValue[],
    read: (plaintext: Buffer, start: number, end: number, index: number) => T,
  ): T[] {
    const buffer = this.keystream(values);
    // The ciphertexts, laid out as their keystreams are (each from a block boundary), then XORed
    // in with the keystream four bytes at a time: a third of the cost of a byte loop.
    const total = buffer.length;
    if (this.sealedBytes.length < total && total <= KEPT_SCRATCH_BYTES) this.sealedBytes = Buffer.alloc(total * 2);
    // A batch larger than what is kept gets a buffer of its own rather than one kept for good.
    const sealedBytes = this.sealedBytes.length >= total ? this.sealedBytes : Buffer.allocUnsafe(total);
    let offset = 0;
    for (const { sealed } of values) {
      sealedBytes.write(sealed, offset, "latin1");
      offset += blockCount(sealed.length) * BLOCK;
    }
    xorInto(buffer, sealedBytes, total);
    const results = new Array<T>(values.length);
    offset = 0;
    for (let index = 0; index < values.length; index++) {
      const length = values[index]!.sealed.length;
      results[index] = read(buffer, offset, offset + length, index);
      offset += blockCount(length) * BLOCK;
    }
    buffer.fill(0);
    return results;
  }

  /** The keystream for each value, one after another, each padded to whole blocks. */
  private keystream(
    values: ReadonlyArray<{ readonly nonce: number; readonly sealed: { readonly length: number } }>,
  ): Buffer {
    let total = 0;
    for (const value of values) total += blockCount(value.sealed.length);
    if (this.counters.length < total * BLOCK) this.counters = Buffer.alloc(total * BLOCK * 2);
    const counters = this.counters;
    let at = 0;
    for (const { nonce, sealed } of values) {
      const high = Math.floor(nonce / 2 ** 32);
      const low = nonce >>> 0;
      const blocks = blockCount(sealed.length);
      for (let counter = 0; counter < blocks; counter++, at += BLOCK) {
        writeUint32(counters, at, high);
        writeUint32(counters, at + 4, low);
        writeUint32(counters, at + 8, 0);
        writeUint32(counters, at + 12, counter);
      }
    }
    return this.blocks.update(counters.subarray(0, at));
  }
}

/** `target[i] ^= source[i]` for the first `length` bytes (a whole number of blocks), by 32-bit words where aligned. */
function xorInto(target: Buffer, source: Buffer, length: number): void {
  if (target.byteOffset % 4 === 0 && source.byteOffset % 4 === 0) {
    const words = new Int32Array(target.buffer, target.byteOffset, length / 4);
    const mask = new Int32Array(source.buffer, source.byteOffset, length / 4);
    for (let index = 0; index < words.length; index++) words[index]! ^= mask[index]!;
    return;
  }
  for (let index = 0; index < length; index++) target[index]! ^= source[index]!;
}

function blockCount(length: number): number {
  return Math.ceil(length / BLOCK);
}

/** Big-endian, byte by byte: cheaper than Buffer#writeUInt32BE's checks, four times per block. */
function writeUint32(buffer: Buffer, at: number, value: number): void {
  buffer[at] = value >>> 24;
  buffer[at + 1] = (value >>> 16) & 0xff;
  buffer[at + 2] = (value >>> 8) & 0xff;
  buffer[at + 3] = value & 0xff;
}
