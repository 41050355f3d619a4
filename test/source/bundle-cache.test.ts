// readBundle's cache: an unchanged bundle is not read again; any change to any file (even one
// that keeps its size) is seen.
import { mkdtemp, rm, writeFile, rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { DEFAULT_LIMITS, readBundle, type BundleCache } from "../../reconciler/source/bundle.ts";

let root: string;
afterEach(async () => root && rm(root, { recursive: true, force: true }));

it("reuses an unchanged bundle and re-reads a changed one", async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-cache-"));
  const dir = path.join(root, "greeter");
  await import("node:fs/promises").then((fs) => fs.mkdir(dir));
  await writeFile(path.join(dir, "index.js"), "export default { a: 1 };");
  const cache: BundleCache = new Map();
  const first = await readBundle(dir, DEFAULT_LIMITS, cache);
  expect(await readBundle(dir, DEFAULT_LIMITS, cache)).toBe(first);

  // Same size, different bytes, written in place.
  await writeFile(path.join(dir, "index.js"), "export default { a: 2 };");
  const second = await readBundle(dir, DEFAULT_LIMITS, cache);
  expect(second).not.toBe(first);
  expect(second.spec.version).not.toBe(first.spec.version);

  // Replaced by rename (new inode), then a file added.
  await writeFile(path.join(root, "tmp.js"), "export default { a: 3 };");
  await rename(path.join(root, "tmp.js"), path.join(dir, "index.js"));
  const third = await readBundle(dir, DEFAULT_LIMITS, cache);
  expect(third.spec.version).not.toBe(second.spec.version);
  await writeFile(path.join(dir, "extra.txt"), "x");
  expect((await readBundle(dir, DEFAULT_LIMITS, cache)).spec.modules.map((m) => m.name)).toContain("extra.txt");
});
