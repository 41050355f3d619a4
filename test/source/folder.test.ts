// The folder source notices every way a bundle lands: written in place, renamed in over a
// renamed-away old one (the atomic swap; the benchmark saw chokidar alone miss some of these, so
// the folder itself is also watched with fs.watch), and the folder deleted and recreated.
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { FolderSource } from "../../reconciler/source/folder.ts";

let root: string;
let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
  if (root) await rm(root, { recursive: true, force: true });
});

async function watched(): Promise<{ dir: string; next: () => Promise<string>; until: (re: RegExp) => Promise<string> }> {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-folder-"));
  const dir = path.join(root, "bundles");
  await mkdir(path.join(dir, "greeter"), { recursive: true });
  await writeFile(path.join(dir, "greeter", "index.js"), "v1");
  // Every reported change is kept, so one that comes before anyone waits is not lost.
  const reported: string[] = [];
  let cursor = 0;
  let wake: (() => void) | undefined;
  stop = await new FolderSource(dir, { debounceMs: 20 }).watch((reason) => {
    reported.push(reason);
    wake?.();
  });
  /** The next change reported after the ones already taken that matches `re` (default: any). */
  const until = async (re: RegExp = /./): Promise<string> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      while (cursor < reported.length) {
        const r = reported[cursor++]!;
        if (re.test(r)) return r;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no change matching ${re} reported within 5 s (saw: ${reported.join(" | ") || "nothing"})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  /** Drops what was reported so far; then the next change. */
  const next = () => {
    cursor = reported.length;
    return until();
  };
  return { dir, next, until };
}

async function staged(dir: string, content: string): Promise<string> {
  const staging = path.join(dir, `.staging-${content}`);
  await mkdir(staging);
  await writeFile(path.join(staging, "index.js"), content);
  return staging;
}

it("reports a bundle swapped in by two renames, each time", async () => {
  const { dir, next } = await watched();
  for (const v of ["v2", "v3", "v4"]) {
    const staging = await staged(dir, v);
    const seen = next();
    await rename(path.join(dir, "greeter"), path.join(dir, `.old-${v}`));
    await rename(staging, path.join(dir, "greeter"));
    expect(await seen).toContain("greeter");
  }
});

it("reports a file written in place", async () => {
  const { dir, next } = await watched();
  const seen = next();
  await writeFile(path.join(dir, "greeter", "index.js"), "v2");
  expect(await seen).toContain("greeter");
});

it("watches the folder again after it was deleted and recreated", async () => {
  const { dir, next, until } = await watched();
  const gone = next();
  await rm(dir, { recursive: true });
  await gone;
  await mkdir(path.join(dir, "counter"), { recursive: true });
  // Late events of the deletion may come first; the source says when it watches the new folder
  // (it notices the folder went away by chokidar's unlinkDir, an fs.watch error, or a changed inode).
  await until(/is back/);
  const later = until(/counter/);
  await writeFile(path.join(dir, "counter", "index.js"), "x");
  expect(await later).toContain("counter");
});
