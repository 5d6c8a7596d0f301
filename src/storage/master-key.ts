import { type KeyObject, randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeNewPrivateFile } from "./private-files.js";
import { MASTER_KEY_BYTES, toKeyObject } from "./sealing.js";

export const MASTER_KEY_FILE = "master.key";

export class MasterKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MasterKeyError";
  }
}

/** Accepts 32 bytes as base64 (44 characters) or hex (64 characters). */
export function parseMasterKey(text: string, origin: string): KeyObject {
  const trimmed = text.trim();
  const raw = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64");
  if (raw.length !== MASTER_KEY_BYTES || (!/^[0-9a-fA-F]{64}$/.test(trimmed) && raw.toString("base64") !== trimmed)) {
    throw new MasterKeyError(
      `${origin} must be ${MASTER_KEY_BYTES} bytes as base64 or hex (e.g. \`openssl rand -base64 32\`)`,
    );
  }
  return toKeyObject(raw);
}

/**
 * The key sealing everything in the data directory: SECRETGATE_MASTER_KEY when set, else the
 * key file next to the database. A key file is generated (mode 0600) only for a fresh data
 * directory; for one that already holds sealed data a missing key is an error, because a new
 * key could never open it.
 */
export function loadMasterKey(options: { dataDir: string; envValue: string | undefined; freshDatabase: boolean }): {
  key: KeyObject;
  origin: string;
  generated: boolean;
} {
  if (options.envValue !== undefined && options.envValue !== "") {
    return {
      key: parseMasterKey(options.envValue, "SECRETGATE_MASTER_KEY"),
      origin: "SECRETGATE_MASTER_KEY",
      generated: false,
    };
  }
  const path = join(options.dataDir, MASTER_KEY_FILE);
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new MasterKeyError(`${path} is readable by other users (mode ${mode.toString(8)}); run chmod 600 ${path}`);
    }
    return { key: parseMasterKey(readFileSync(path, "utf8"), path), origin: path, generated: false };
  }
  if (!options.freshDatabase) {
    throw new MasterKeyError(
      `the data directory ${options.dataDir} holds sealed data but neither ` +
        `SECRETGATE_MASTER_KEY nor ${path} is present`,
    );
  }
  const raw = randomBytes(MASTER_KEY_BYTES);
  writeNewPrivateFile(path, `${raw.toString("base64")}\n`);
  return { key: toKeyObject(raw), origin: path, generated: true };
}
