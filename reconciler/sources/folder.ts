// A folder of bundles (bundles/ or a mounted volume) as the desired state, watched with chokidar.
import { stat } from "node:fs/promises";
import { watch } from "chokidar";
import { GridironError } from "../errors.ts";
import type { Artifact, Source } from "./source.ts";

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
      throw new GridironError("SOURCE_MISSING", "waiting",
        `bundles folder ${this.dir} cannot be read (${(err as NodeJS.ErrnoException).code}); create it or set GRIDIRON_BUNDLES_DIR. Nothing that serves is touched meanwhile.`,
        { dir: this.dir });
    }
    if (!info.isDirectory()) {
      throw new GridironError("SOURCE_MISSING", "stalled", `bundles folder ${this.dir} is not a directory`, { dir: this.dir });
    }
    return { revision: `folder:${this.dir}`, dir: this.dir };
  }

  async watch(onChange: (reason: string) => void): Promise<() => Promise<void>> {
    const watcher = watch(this.dir, {
      ignoreInitial: true,
      // Dotfiles are editor and temp files; they are not part of any bundle (see bundle.ts).
      ignored: (path: string) => /(^|[/\\])\.[^/\\]/.test(path.slice(this.dir.length)),
      // A file being copied in fires many events; wait until its size settles.
      awaitWriteFinish: { stabilityThreshold: 80, pollInterval: 20 },
    });
    let timer: NodeJS.Timeout | undefined;
    let first = "";
    watcher.on("all", (event, path) => {
      if (!timer) first = `${event} ${path}`;
      clearTimeout(timer);
      timer = setTimeout(() => {
        timer = undefined;
        onChange(first);
      }, this.#debounceMs);
    });
    await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
    return async () => {
      clearTimeout(timer);
      await watcher.close();
    };
  }
}
