import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeNewPrivateFile } from "../storage/private-files.js";

export const ADMIN_TOKEN_HASH_FILE = "admin-token.sha256";

/**
 * The development admin token: on the first start with no authentication configured, a random
 * token is made, only its SHA-256 is kept in the data directory, and the token itself is
 * returned once for printing (like Vault's dev root token). Later starts find the hash.
 */
export function loadOrCreateAdminTokenHash(
  dataDir: string,
  hash: (token: string) => Buffer,
): { digest: Buffer; newToken?: string } {
  const path = join(dataDir, ADMIN_TOKEN_HASH_FILE);
  if (existsSync(path)) return { digest: Buffer.from(readFileSync(path, "utf8").trim(), "hex") };
  const token = `sgt_${randomBytes(32).toString("base64url")}`;
  const digest = hash(token);
  writeNewPrivateFile(path, `${digest.toString("hex")}\n`);
  return { digest, newToken: token };
}
