// Small files holding secrets in the data dir (the request identity key, the API token): written
// once, atomically (a 0600 temp file, fsynced and hard-linked into place, in a 0700 directory),
// and read back only if they are regular files nobody else can read.
import { chmod, lstat, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileAtomic } from "../core/atomic-write.ts";
import { GridironError } from "../core/errors.ts";

export const SECRET_FILE_MODE = 0o600;
export const SECRET_DIR_MODE = 0o700;

/**
 * Writes `make()` to `file` unless it already exists; true if this call created it. The file
 * appears complete or not at all (hard link of a synced temp file), and an existing one is never
 * replaced: of two processes racing on one data dir, the second gets false and reads the first's.
 */
export async function writeSecretFileOnce(file: string, make: () => string | Uint8Array): Promise<boolean> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: SECRET_DIR_MODE });
  // Checked first so that make() (a new key) runs only when it may be needed; the write itself
  // still loses cleanly to a file that appears meanwhile.
  if (await exists(file)) return false;
  return writeFileAtomic(file, make(), { mode: SECRET_FILE_MODE, createOnly: true });
}

/**
 * Reads a secret file. It must be a regular file (not a symlink); group/other permission bits are
 * removed (with a warning through `onLoosePermissions`) before the content is trusted.
 */
export async function readSecretFile(file: string, what: string, onLoosePermissions?: (mode: number) => void): Promise<string> {
  let st;
  try {
    st = await lstat(file);
  } catch (err) {
    throw new GridironError("SECRET_FILE_UNREADABLE", `${what} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!st.isFile()) throw new GridironError("SECRET_FILE_NOT_REGULAR", `${what} ${file} is not a regular file (symlinks are refused)`);
  if ((st.mode & 0o077) !== 0) {
    onLoosePermissions?.(st.mode & 0o777);
    await chmod(file, SECRET_FILE_MODE);
  }
  return readFile(file, "utf8");
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
