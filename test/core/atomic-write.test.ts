import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { writeDirAtomic, writeFileAtomic } from "../../reconciler/core/atomic-write.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gridiron-atomic-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("writes and replaces a file, leaving no temp file behind", async () => {
  const file = path.join(dir, "pins.json");
  expect(await writeFileAtomic(file, "one")).toBe(true);
  expect(await writeFileAtomic(file, "two")).toBe(true);
  expect(await readFile(file, "utf8")).toBe("two");
  expect(await readdir(dir)).toEqual(["pins.json"]);
});

it("createOnly leaves an existing file alone and says so", async () => {
  const file = path.join(dir, "api-token");
  await writeFile(file, "first");
  expect(await writeFileAtomic(file, "second", { createOnly: true })).toBe(false);
  expect(await readFile(file, "utf8")).toBe("first");
  expect(await readdir(dir)).toEqual(["api-token"]);
});

it("creates the file with the mode asked for", async () => {
  const file = path.join(dir, "key.pem");
  expect(await writeFileAtomic(file, "secret", { mode: 0o600, createOnly: true })).toBe(true);
  expect((await stat(file)).mode & 0o777).toBe(0o600);
});

it("a directory appears whole, replaces an old one when asked, and a failed fill leaves nothing", async () => {
  const target = path.join(dir, "tree");
  await writeDirAtomic(target, (tmp) => writeFile(path.join(tmp, "a.js"), "a"));
  await writeDirAtomic(target, (tmp) => writeFile(path.join(tmp, "b.js"), "b"), { replace: true, durable: true });
  expect(await readdir(target)).toEqual(["b.js"]);
  await expect(writeDirAtomic(path.join(dir, "broken"), async () => {
    throw new Error("fill failed");
  })).rejects.toThrow("fill failed");
  expect(await readdir(dir)).toEqual(["tree"]);
});
