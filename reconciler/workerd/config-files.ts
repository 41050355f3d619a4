// workerd config files on disk: <data>/workerd/config-<sha12>.bin, written temp + fsync + rename,
// so a path handed to workerd always holds a complete config. After a generation is serving from
// one, it becomes config.bin and the one before config.prev.bin (the last good ones, for humans
// and for restarts); other candidates are removed.
import { createHash, randomBytes } from "node:crypto";
import { link, mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { writeFileAtomic } from "../core/atomic-write.ts";

export const CURRENT = "config.bin";
export const PREVIOUS = "config.prev.bin";

export class ConfigFiles {
  readonly dir: string;
  #current: string | undefined;

  /** `<data>/workerd`, or `<data>/workerd/<subdir>` for a cell other than the first. */
  constructor(dataDir: string, subdir?: string) {
    this.dir = subdir === undefined ? join(dataDir, "workerd") : join(dataDir, "workerd", subdir);
  }

  /** Writes a candidate config; the same bytes always land at the same path. */
  async write(bytes: Uint8Array): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const name = `config-${createHash("sha256").update(bytes).digest("hex").slice(0, 12)}.bin`;
    const path = join(this.dir, name);
    await writeFileAtomic(path, bytes);
    return path;
  }

  /** Records `path` as the serving config. */
  async commit(path: string): Promise<void> {
    const previous = this.#current;
    if (previous === path) return;
    await replaceLink(path, join(this.dir, CURRENT));
    if (previous) await replaceLink(previous, join(this.dir, PREVIOUS));
    this.#current = path;
    const keep = new Set([basename(path), previous && basename(previous), CURRENT, PREVIOUS]);
    for (const entry of await readdir(this.dir)) {
      if (!keep.has(entry) && (entry.startsWith("config-") || entry.startsWith(".tmp-"))) await rm(join(this.dir, entry), { force: true });
    }
    const dirHandle = await open(this.dir, "r");
    await dirHandle.sync().finally(() => dirHandle.close());
  }

  /** Removes a candidate that never served. */
  async discard(path: string): Promise<void> {
    if (path !== this.#current) await rm(path, { force: true });
  }
}

/** Atomically points `linkPath` at the same inode as `target` (hard link + rename). */
async function replaceLink(target: string, linkPath: string): Promise<void> {
  const tmp = `${linkPath}.tmp-${randomBytes(4).toString("hex")}`;
  await link(target, tmp);
  await rename(tmp, linkPath);
}
