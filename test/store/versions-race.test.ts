// The same bundle dropped twice at once: two passes (or two processes) store the same version
// concurrently. Both must succeed, exactly one creates it, and no temp directory is left.
import { mkdtemp, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { readBundle } from "../../reconciler/source/bundle.ts";
import { VersionStore } from "../../reconciler/store/versions.ts";

let root: string;
afterEach(async () => root && rm(root, { recursive: true, force: true }));

it("concurrent puts of one version: one creates, the others find it, nothing half-written remains", async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-race-"));
  const dir = path.join(root, "greeter");
  await mkdir(dir);
  await writeFile(path.join(dir, "index.js"), "export default { fetch() { return new Response('hi'); } };");
  await writeFile(path.join(dir, "data.bin"), new Uint8Array(256 * 1024).fill(7));
  const bundle = await readBundle(dir);
  // Separate store instances: no shared in-memory state, as with two processes.
  const stores = Array.from({ length: 6 }, () => new VersionStore(path.join(root, "data")));
  const results = await Promise.all(stores.map((s) => s.put(bundle)));
  expect(results.filter((r) => r.created)).toHaveLength(1);
  for (const r of results) expect(r.stored.spec.version).toBe(bundle.spec.version);
  const entries = await readdir(path.join(root, "data", "versions", "greeter"));
  expect(entries).toEqual([bundle.spec.version]);
  const fresh = new VersionStore(path.join(root, "data"));
  const files = await fresh.files((await fresh.get("greeter", bundle.spec.version))!);
  expect([...files.keys()].sort()).toEqual(["data.bin", "index.js"]);
});
