// The folder source notices every way a bundle lands: written in place, renamed in over a
// renamed-away old one (the atomic swap; the benchmark saw chokidar alone miss some of these, so
// the folder itself is also watched with fs.watch), and the folder deleted and recreated.
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { FolderSource } from "../../reconciler/sources/folder.ts";

let root: string;
let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
  if (root) await rm(root, { recursive: true, force: true });
});

async function watched(): Promise<{ dir: string; next: () => Promise<string> }> {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-folder-"));
  const dir = path.join(root, "bundles");
  await mkdir(path.join(dir, "greeter"), { recursive: true });
  await writeFile(path.join(dir, "greeter", "index.js"), "v1");
  const waiting: ((reason: string) => void)[] = [];
  stop = await new FolderSource(dir, { debounceMs: 20 }).watch((reason) => waiting.shift()?.(reason));
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no change reported within 5 s")), 5000);
      waiting.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  return { dir, next };
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
  const { dir, next } = await watched();
  const gone = next();
  await rm(dir, { recursive: true });
  await gone;
  const back = next();
  await mkdir(path.join(dir, "counter"), { recursive: true });
  await back;
  const later = next();
  await writeFile(path.join(dir, "counter", "index.js"), "x");
  expect(await later).toContain("counter");
});
