/**
 * Test helpers that produce bundle directories of other shapes than `scripts/build-service` does.
 * Both write into a dot-prefixed temp sibling and rename it into place, so a folder watcher never
 * sees a half-written bundle.
 */
import { createHash, randomBytes } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

export interface ShapedBundle {
  /** The bundle directory. */
  dir: string;
  /** File names in it, sorted. */
  files: string[];
  /** Wasm module names as index.js imports them (without the leading `./`). */
  wasmModules: string[];
}

/**
 * Moves directory `from` to `to`, replacing what is there. The old `to` is first renamed to a
 * dot-prefixed sibling, which sources ignore, and deleted afterwards: deleting it in place would
 * let a pass that runs meanwhile (a drain poll does, at any time) read a half-deleted bundle.
 */
export async function replaceDir(from: string, to: string): Promise<void> {
  const old = path.join(path.dirname(to), `.${path.basename(to)}.old-${randomBytes(4).toString("hex")}`);
  const moved = await rename(to, old).then(() => true, (err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return false;
    throw err;
  });
  await rename(from, to);
  if (moved) await rm(old, { recursive: true, force: true });
}

/** Writes `files` into a temp sibling of `dir`, then replaces `dir` with it. */
async function writeDirAtomically(dir: string, files: Record<string, string | Uint8Array>): Promise<string[]> {
  const parent = path.dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  await mkdir(tmp);
  try {
    for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(tmp, name), bytes);
    await replaceDir(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return Object.keys(files).sort();
}

/**
 * Turns a build-service bundle (`fromDir`) into what `wrangler deploy --dry-run --outdir` emits, at
 * `toDir`: `index.js`, `index.js.map`, `README.md` and `<sha1>-<base>.wasm` imported as `./<that name>`
 * (e.g. `3f…9a-sdk_shared_core_wasm_bindings_bg.wasm`); no `gridiron.json`.
 */
export async function makeWranglerShapedBundle(fromDir: string, toDir: string): Promise<ShapedBundle> {
  const names = await readdir(fromDir);
  let js = await readFile(path.join(fromDir, "index.js"), "utf8");
  const files: Record<string, string | Uint8Array> = {};
  const wasmModules: string[] = [];
  for (const name of names.filter((n) => n.endsWith(".wasm"))) {
    const bytes = await readFile(path.join(fromDir, name));
    // esbuild names it `<base>-<HASH>.wasm`; wrangler names it `<sha1 of bytes>-<base>.wasm`.
    const base = name.replace(/-[A-Z0-9]{8}\.wasm$/, ".wasm");
    const renamed = `${createHash("sha1").update(bytes).digest("hex")}-${base}`;
    const before = js;
    js = js.replaceAll(`"./${name}"`, `"./${renamed}"`).replaceAll(`'./${name}'`, `'./${renamed}'`);
    if (js === before) throw new Error(`index.js in ${fromDir} does not import ./${name}`);
    files[renamed] = bytes;
    wasmModules.push(renamed);
  }
  files["index.js"] = `${js.replace(/\n*$/, "\n")}//# sourceMappingURL=index.js.map\n`;
  files["index.js.map"] = `${JSON.stringify({ version: 3, file: "index.js", sources: [], names: [], mappings: "" })}\n`;
  files["README.md"] =
    "This folder contains the built output assets for the worker \"" +
    path.basename(toDir) +
    "\" generated at " +
    new Date().toISOString() +
    ".\n";
  return { dir: toDir, files: await writeDirAtomically(toDir, files), wasmModules: wasmModules.sort() };
}

/**
 * Writes `<dir>/<name>/` with a `gridiron.json` manifest and an `index.js` that has a syntax error,
 * so workerd refuses to load it. Returns the bundle directory.
 */
export async function writeBrokenBundle(dir: string, name: string): Promise<string> {
  const bundleDir = path.join(dir, name);
  const manifest = { name, main: "index.js", compatibilityDate: "2026-11-01", compatibilityFlags: [] };
  await writeDirAtomically(bundleDir, {
    "gridiron.json": `${JSON.stringify(manifest, null, 2)}\n`,
    "index.js": "export default {\n  fetch(request) {\n    return new Response('unreachable'\n  },\n};\n",
  });
  return bundleDir;
}

/**
 * Drops a copy of the bundle at `fromDir` into `<bundlesDir>/<name>` with `patch` laid over its
 * gridiron.json (a new version per patch), staged beside `bundlesDir` and renamed into place, so
 * the folder watcher never sees it half-written.
 */
export async function deployVariant(fromDir: string, bundlesDir: string, name: string, patch: Record<string, unknown>): Promise<void> {
  const staging = path.join(path.dirname(bundlesDir), `.stage-${name}-${randomBytes(4).toString("hex")}`);
  await cp(fromDir, staging, { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(staging, "gridiron.json"), "utf8")) as Record<string, unknown>;
  await writeFile(path.join(staging, "gridiron.json"), JSON.stringify({ ...manifest, ...patch }));
  await mkdir(bundlesDir, { recursive: true });
  await replaceDir(staging, path.join(bundlesDir, name));
}

/** Lets `write` make bundle `name` in a staging folder beside `bundlesDir`, then moves it in with one rename. */
export async function dropBundle(bundlesDir: string, name: string, write: (staging: string) => Promise<unknown>): Promise<void> {
  const staging = await mkdtemp(path.join(path.dirname(bundlesDir), "stage-"));
  await write(staging);
  await rename(path.join(staging, name), path.join(bundlesDir, name));
}

/** deployVariant of a built greeter (`<builtDir>/greeter`) whose `GREETING` var is `word`. */
export async function deployGreeterVariant(builtDir: string, bundlesDir: string, word: string, extra: Record<string, unknown> = {}): Promise<void> {
  await deployVariant(path.join(builtDir, "greeter"), bundlesDir, "greeter", { ...extra, vars: { GREETING: word } });
}
