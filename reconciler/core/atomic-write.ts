// Files and directories that appear complete or not at all. Each is written aside in its own
// directory (so the rename never crosses file systems), fsynced, renamed into place, and the
// directory fsynced so that the new name survives a crash as well as the bytes. Temp names start
// with TEMP_PREFIX, so an owner can sweep what a crash left behind.
import { randomBytes } from "node:crypto";
import { link, mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export const TEMP_PREFIX = ".tmp-";

export interface AtomicWriteOptions {
  /** Permission bits of the file. Default 0o644. */
  mode?: number;
  /**
   * Leave an existing file as it is (the write then resolves false): hard link instead of
   * rename, so of two writers racing on one path the first one wins and nothing is replaced.
   */
  createOnly?: boolean;
}

/** A fresh temp path beside `path`, named after it. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `${TEMP_PREFIX}${basename(path)}-${randomBytes(4).toString("hex")}`);
}

/** Writes `path` in one step; false only if `createOnly` found it already there. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<boolean> {
  const tmp = tempPathFor(path);
  try {
    await writeFileSynced(tmp, data, options.mode, "wx");
    if (options.createOnly) {
      try {
        await link(tmp, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw err;
      }
    } else {
      await rename(tmp, path);
    }
    await syncDir(dirname(path));
    return true;
  } finally {
    // After a rename there is nothing left to remove; after a link or a failure there is.
    await rm(tmp, { force: true });
  }
}

/**
 * Builds a directory aside and renames it to `path` in one step, so a reader sees the old one or
 * all of the new one. `fill` writes into the (already created) temp directory it is given, fsyncing
 * what must survive a crash. `replace` removes an existing `path` first (a rename cannot replace a
 * directory that has entries); `durable` fsyncs the parent after the rename. A failure removes the
 * temp directory and rethrows.
 */
export async function writeDirAtomic(path: string, fill: (tmp: string) => Promise<void>, options: { replace?: boolean; durable?: boolean } = {}): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await mkdir(tmp);
    await fill(tmp);
    if (options.replace) await rm(path, { recursive: true, force: true });
    await rename(tmp, path);
    if (options.durable) await syncDir(dirname(path));
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Writes and fsyncs one file; for files inside a directory that writeDirAtomic renames into place. */
export async function writeFileSynced(path: string, data: Uint8Array | string, mode = 0o644, flag: "w" | "wx" = "w"): Promise<void> {
  const handle = await open(path, flag, mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes the directory's entries (a new name, a removed one) durable. */
export async function syncDir(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
