import { createCipheriv, createSecretKey, randomBytes, type Cipheriv, type KeyObject } from "node:crypto";

const BLOCK = 16;

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

  constructor(key: KeyObject = createSecretKey(randomBytes(32))) {
    this.blocks = createCipheriv("aes-256-ecb", key, null);
    this.blocks.setAutoPadding(false);
  }

  seal(plaintext: Uint8Array): SealedValue {
    const nonce = this.nextNonce++;
    const bytes = Buffer.from(plaintext);
    xorInPlace(bytes, this.keystream([nonce], [bytes.length]), 0);
    const sealed = bytes.toString("latin1");
    return { nonce, sealed };
  }

  /** Opens several values with one cipher call; each plaintext is a new Buffer the caller owns. */
  openMany(values: readonly SealedValue[]): Buffer[] {
    const nonces = values.map((value) => value.nonce);
    const lengths = values.map((value) => value.sealed.length);
    const keystream = this.keystream(nonces, lengths);
    let offset = 0;
    return values.map((value, index) => {
      const bytes = Buffer.from(value.sealed, "latin1");
      xorInPlace(bytes, keystream, offset);
      offset += blockCount(lengths[index]!) * BLOCK;
      return bytes;
    });
  }

  /** The keystream for each (nonce, length), one after another, each padded to whole blocks. */
  private keystream(nonces: readonly number[], lengths: readonly number[]): Buffer {
    let total = 0;
    for (const length of lengths) total += blockCount(length);
    // Every byte is written below; allocUnsafe takes it from the shared pool instead of a fresh allocation.
    const counters = Buffer.allocUnsafe(total * BLOCK);
    let block = 0;
    nonces.forEach((nonce, index) => {
      const high = Math.floor(nonce / 2 ** 32);
      const low = nonce >>> 0;
      const blocks = blockCount(lengths[index]!);
      for (let counter = 0; counter < blocks; counter++, block++) {
        const at = block * BLOCK;
        counters.writeUInt32BE(high, at);
        counters.writeUInt32BE(low, at + 4);
        counters.writeUInt32BE(0, at + 8);
        counters.writeUInt32BE(counter, at + 12);
      }
    });
    return this.blocks.update(counters);
  }
}

function blockCount(length: number): number {
  return Math.ceil(length / BLOCK);
}

function xorInPlace(bytes: Buffer, keystream: Buffer, offset: number): void {
  for (let index = 0; index < bytes.length; index++) bytes[index] = bytes[index]! ^ keystream[offset + index]!;
}
