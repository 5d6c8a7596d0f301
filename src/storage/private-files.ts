import { chmodSync, closeSync, constants, existsSync, fchmodSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * Files and directories the service creates hold keys, sealed secrets and the names callers
 * use: only the service's own user may read them. The mode is set explicitly after creation,
 * because the mode passed to open and mkdir is only an upper bound that the inherited umask
 * narrows (000 would leave the database 0644; 277 would leave a key 0400 and a directory the
 * service cannot write into).
 */
const PRIVATE_FILE = 0o600;
const PRIVATE_DIRECTORY = 0o700;

/** Creates `path` and whichever of its parents are missing, each 0700; existing ones keep their mode. */
export function makePrivateDirectory(path: string): void {
  const missing: string[] = [];
  for (let dir = resolve(path); !existsSync(dir); dir = dirname(dir)) missing.unshift(dir);
  for (const dir of missing) {
    mkdirSync(dir, { mode: PRIVATE_DIRECTORY });
    chmodSync(dir, PRIVATE_DIRECTORY);
  }
}

/** Creates `path`, which must not exist yet, holding `data`, mode 0600. */
export function writeNewPrivateFile(path: string, data: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, PRIVATE_FILE);
  try {
    fchmodSync(fd, PRIVATE_FILE);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** Opens `path` for appending; a file this creates is 0600, an existing one keeps its mode. */
export function openPrivateFileForAppend(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL, PRIVATE_FILE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return openSync(path, constants.O_WRONLY | constants.O_APPEND);
  }
  try {
    fchmodSync(fd, PRIVATE_FILE);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}
