// A folder of bundles (bundles/ or a mounted volume) as the desired state, watched with chokidar.
import { watch as fsWatch, type FSWatcher as NodeFSWatcher } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { watch, type FSWatcher } from "chokidar";
import { GridironError } from "../core/errors.ts";
import { folderRevision, type Artifact, type Source } from "./source.ts";

export class FolderSource implements Source {
  readonly kind = "folder";
  readonly dir: string;
  readonly location: string;
  readonly #debounceMs: number;

  constructor(dir: string, opts: { debounceMs?: number } = {}) {
    this.dir = dir;
    this.location = dir;
    this.#debounceMs = opts.debounceMs ?? 100;
  }

  async fetch(): Promise<Artifact> {
    let info;
    try {
      info = await stat(this.dir);
    } catch (err) {
      throw new GridironError("SOURCE_MISSING",
        `bundles folder ${this.dir} cannot be read (${(err as NodeJS.ErrnoException).code}); create it or set GRIDIRON_BUNDLES_DIR. Nothing that serves is touched meanwhile.`,
        { dir: this.dir });
    }
    if (!info.isDirectory()) {
      throw new GridironError("SOURCE_NOT_A_FOLDER", `bundles folder ${this.dir} is not a directory`, { dir: this.dir });
    }
    return { revision: folderRevision(this.dir), dir: this.dir };
  }

  /**
   * Watches the folder (debounced). If the folder itself disappears, the watch is dropped and the
   * folder polled for until it is back, then watched again: the passes meanwhile report
   * SOURCE_MISSING and touch nothing that serves.
   */
  async watch(onChange: (reason: string) => void): Promise<() => Promise<void>> {
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    let watcher: FSWatcher | undefined;
    let rootWatch: NodeFSWatcher | undefined;
    let stopped = false;
    let first = "";
    /** Inode of the folder the watchers are attached to. */
    let watchedIno: number | undefined;
    const changed = (reason: string) => {
      if (!timer) first = reason;
      clearTimeout(timer);
      timer = setTimeout(() => {
        timer = undefined;
        onChange(first);
        // Deleted (and maybe already recreated: a new inode) under the watchers, which then watch
        // nothing; neither chokidar's unlinkDir nor an fs.watch error is sure to come first.
        void stat(this.dir).then((info) => (info.ino !== watchedIno ? lost() : undefined), () => lost());
      }, this.#debounceMs);
    };
    const start = async (): Promise<void> => {
      watchedIno = (await stat(this.dir)).ino;
      // chokidar can miss a bundle directory renamed into place (the usual atomic swap, e.g.
      // `mv staging bundles/greeter`); the kernel's own event for the folder itself does not.
      rootWatch = fsWatch(this.dir, (event, name) => {
        if (name && !String(name).startsWith(".")) changed(`${event} ${join(this.dir, String(name))}`);
      });
      rootWatch.on("error", () => void lost());
      const w = watch(this.dir, {
        ignoreInitial: true,
        // Dotfiles are editor and temp files; they are not part of any bundle (see bundle.ts).
        ignored: (path: string) => /(^|[/\\])\.[^/\\]/.test(path.slice(this.dir.length)),
        // A file being copied in fires many events; wait until its size settles.
        awaitWriteFinish: { stabilityThreshold: 80, pollInterval: 20 },
      });
      watcher = w;
      w.on("all", (event, path) => {
        changed(`${event} ${path}`);
        if (event === "unlinkDir" && path === this.dir) void lost();
      });
      w.on("error", () => void lost());
      await new Promise<void>((resolve) => w.once("ready", () => resolve()));
    };
    let losing = false;
    const lost = async (): Promise<void> => {
      // unlinkDir and error can both report the loss: only the first one acts.
      if (stopped || losing) return;
      losing = true;
      const w = watcher;
      watcher = undefined;
      rootWatch?.close();
      rootWatch = undefined;
      await w?.close();
      if (stopped) return;
      poll = setInterval(() => {
        void stat(this.dir).then(
          async (info) => {
            if (!info.isDirectory() || stopped || !poll) return;
            clearInterval(poll);
            poll = undefined;
            losing = false;
            try {
              await start();
            } catch {
              // Gone again between the check and the watch: keep polling.
              void lost();
              return;
            }
            changed(`bundles folder ${this.dir} is back`);
          },
          () => undefined,
        );
      }, 250);
    };
    await start();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      clearInterval(poll);
      rootWatch?.close();
      await watcher?.close();
    };
  }
}
