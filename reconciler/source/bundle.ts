// Reads one bundle directory into memory, validates it and gives it a content-addressed identity.
// The bytes read here are the bytes stored and served: nothing re-reads the source directory
// later, so a bundle being rewritten while we read it cannot end up half-old, half-new.
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, realpathSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, join, relative, sep } from "node:path";
import { bundleError } from "../core/errors.ts";
import {
  DEFAULT_COMPATIBILITY_DATE,
  DEFAULT_COMPATIBILITY_FLAGS,
  MANIFEST_FILE,
  WRANGLER_FILES,
  parseGridironManifest,
  parseWranglerConfig,
  type Manifest,
  type RolloutPolicy,
  type RunLimits,
} from "./manifest.ts";
import { checkBundlePath, checkServiceName, checkVersionLabel } from "./names.ts";

export type ModuleType = "esModule" | "commonJsModule" | "wasm" | "json" | "text" | "data";

export interface BundleModule {
  /** Module name as the code imports it (bundle-relative path). */
  name: string;
  type: ModuleType;
}

/** Everything needed to run a version, independent of where its bytes came from. */
export interface BundleSpec {
  service: string;
  version: string;
  digest: string;
  main: string;
  compatibilityDate: string;
  compatibilityFlags: string[];
  vars: Record<string, string>;
  breaking: boolean;
  /** Main module first, as workerd requires. */
  modules: BundleModule[];
  /** The watchdog limits gridiron.json declares (absent: the node's defaults). */
  limits?: RunLimits;
  /** The progressive rollout gridiron.json declares (absent: a new version takes every new call at once). */
  rollout?: RolloutPolicy;
}

export interface Bundle {
  spec: BundleSpec;
  /** Every file of the bundle (modules and the rest), by bundle-relative path. */
  files: Map<string, Uint8Array>;
}

export interface BundleLimits {
  maxFileBytes: number;
  maxTotalBytes: number;
  maxFiles: number;
}

export const DEFAULT_LIMITS: BundleLimits = {
  maxFileBytes: 32 * 1024 * 1024,
  maxTotalBytes: 128 * 1024 * 1024,
  maxFiles: 1000,
};

/** Files that describe the bundle or help humans; they are part of the digest but never modules. */
function isNonModule(path: string): boolean {
  const base = path.split("/").pop() ?? path;
  return (
    base === MANIFEST_FILE ||
    (WRANGLER_FILES as readonly string[]).includes(base) ||
    base.endsWith(".map") ||
    base.endsWith(".md") ||
    /^(LICEN[CS]E|COPYING|NOTICE)([.-][A-Za-z0-9.-]*)?$/i.test(base) && !/\.(m?js|cjs|wasm|json)$/.test(base)
  );
}

export function moduleType(path: string): ModuleType {
  if (path.endsWith(".js") || path.endsWith(".mjs")) return "esModule";
  if (path.endsWith(".cjs")) return "commonJsModule";
  if (path.endsWith(".wasm")) return "wasm";
  if (path.endsWith(".json")) return "json";
  if (/\.(txt|html|css|sql|csv|svg)$/.test(path)) return "text";
  return "data";
}

/**
 * sha256 over the bundle's files sorted by path, each framed as `path NUL length NUL bytes`, so
 * moving bytes between files or renaming a file always changes the digest.
 */
export function digestFiles(files: ReadonlyMap<string, Uint8Array>): string {
  const hash = createHash("sha256");
  for (const path of [...files.keys()].sort()) {
    const bytes = files.get(path)!;
    hash.update(`${path}\0${bytes.byteLength}\0`);
    hash.update(bytes);
  }
  return `sha256:${hash.digest("hex")}`;
}

export function versionId(label: string, digest: string): string {
  return `${label}-${digest.replace(/^sha256:/, "").slice(0, 12)}`;
}

interface Listed {
  /** bundle-relative path → absolute path to read */
  files: Map<string, string>;
  /** Changes whenever any file is added, removed, renamed or written (inode, size, mtime, ctime). */
  fingerprint: string;
}

/**
 * Lists and checks every file (names, symlinks, limits) without reading contents. Synchronous on
 * purpose: this runs for every bundle on every pass, and each async fs call costs a trip through
 * libuv's thread pool, several times a synchronous call's cost, which dominated a no-op pass over
 * hundreds of bundles (docs/performance.md). One bundle blocks the event loop only briefly.
 */
function walk(bundle: string, root: string, limits: BundleLimits): Listed {
  const rootReal = realpathSync(root);
  const files = new Map<string, string>();
  const prints: string[] = [];
  let total = 0;

  function visit(dir: string): void {
    const entries = readdirSync(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      // Dotfiles are editor droppings and temp files (.DS_Store, .index.js.swp): not part of a bundle.
      if (entry.name.startsWith(".")) continue;
      const abs = join(dir, entry.name);
      const rel = relative(root, abs).split(sep).join("/");
      const pathProblem = checkBundlePath(rel);
      if (pathProblem) throw bundleError(bundle, pathProblem, { file: rel });
      let info = lstatSync(abs, { bigint: true });
      if (info.isSymbolicLink()) {
        let target: string;
        try {
          target = realpathSync(abs);
        } catch {
          throw bundleError(bundle, `symlink ${rel} points to nothing`, { file: rel });
        }
        if (target !== rootReal && !target.startsWith(rootReal + sep)) {
          throw bundleError(bundle, `symlink ${rel} leaves the bundle (points to ${target})`, { file: rel });
        }
        info = statSync(abs, { bigint: true });
        if (info.isDirectory()) {
          throw bundleError(bundle, `symlink ${rel} points to a directory; only file symlinks are allowed`, { file: rel });
        }
      }
      if (info.isDirectory()) {
        visit(abs);
        continue;
      }
      if (!info.isFile()) throw bundleError(bundle, `${rel} is not a regular file`, { file: rel });
      if (files.size + 1 > limits.maxFiles) {
        throw bundleError(bundle, `too many files (more than ${limits.maxFiles})`, { limit: limits.maxFiles });
      }
      const size = Number(info.size);
      if (size > limits.maxFileBytes) {
        throw bundleError(bundle, `${rel} is ${size} bytes, over the ${limits.maxFileBytes}-byte file limit`, { file: rel });
      }
      total += size;
      if (total > limits.maxTotalBytes) {
        throw bundleError(bundle, `bundle is over the ${limits.maxTotalBytes}-byte size limit`, { limit: limits.maxTotalBytes });
      }
      files.set(rel, abs);
      prints.push(`${rel}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`);
    }
  }

  visit(root);
  return { files, fingerprint: prints.join("|") };
}

/**
 * Bundles already read, by directory. A no-op pass then costs a listing and a stat per file, not
 * a read and a sha256 of every byte of every bundle.
 */
export type BundleCache = Map<string, { fingerprint: string; bundle: Bundle }>;

function readManifest(bundle: string, files: Map<string, Uint8Array>): Manifest {
  const text = (path: string) => Buffer.from(files.get(path)!).toString("utf8");
  const manifest: Manifest = {};
  for (const file of WRANGLER_FILES) {
    if (files.has(file)) Object.assign(manifest, parseWranglerConfig(bundle, file, text(file)));
  }
  // gridiron.json wins over wrangler config for any key both set.
  if (files.has(MANIFEST_FILE)) Object.assign(manifest, parseGridironManifest(bundle, text(MANIFEST_FILE)));
  return manifest;
}

/**
 * Reads and validates the bundle in `dir`. Throws a GridironError (code BUNDLE_INVALID, kind
 * stalled) that names the bundle and the reason; never returns a half-valid bundle.
 */
export async function readBundle(dir: string, limits: BundleLimits = DEFAULT_LIMITS, cache?: BundleCache): Promise<Bundle> {
  const dirName = basename(dir);
  let info;
  try {
    info = statSync(dir);
  } catch (err) {
    throw bundleError(dirName, `cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if (!info.isDirectory()) throw bundleError(dirName, `${dir} is not a directory`);

  const listed = walk(dirName, dir, limits);
  if (listed.files.size === 0) throw bundleError(dirName, "bundle is empty");
  const key = `${dir}\0${JSON.stringify(limits)}`;
  const hit = cache?.get(key);
  if (hit && hit.fingerprint === listed.fingerprint) return hit.bundle;
  const files = new Map<string, Uint8Array>();
  for (const [rel, abs] of listed.files) files.set(rel, new Uint8Array(await readFile(abs)));
  const bundle = specify(dirName, files);
  cache?.set(key, { fingerprint: listed.fingerprint, bundle });
  return bundle;
}

function specify(dirName: string, files: Map<string, Uint8Array>): Bundle {
  const manifest = readManifest(dirName, files);

  const service = manifest.name ?? dirName;
  const nameProblem = checkServiceName(service);
  if (nameProblem) {
    const where = manifest.name ? `"name" in ${MANIFEST_FILE}` : "the bundle directory name (or set \"name\" in gridiron.json)";
    throw bundleError(dirName, `${nameProblem}; fix ${where}`);
  }
  const label = manifest.version ?? "v";
  const labelProblem = checkVersionLabel(label);
  if (labelProblem) throw bundleError(service, `${labelProblem}; fix "version" in ${MANIFEST_FILE}`);

  const main = manifest.main ?? "index.js";
  const mainProblem = checkBundlePath(main);
  if (mainProblem) throw bundleError(service, `"main": ${mainProblem}`);
  if (!files.has(main)) {
    throw bundleError(service, `main module ${main} not found (files: ${[...files.keys()].slice(0, 10).join(", ")})`, { file: main });
  }
  if (moduleType(main) !== "esModule") {
    throw bundleError(service, `main module ${main} must be an ES module (.js or .mjs) with a default export`, { file: main });
  }

  // Gridiron puts modules of its own beside a bundle's (router.js's main module, a lane's folder).
  const reserved = [...files.keys()].find((p) => p.startsWith("__gridiron"));
  if (reserved) throw bundleError(service, `${reserved}: names that start with "__gridiron" are Gridiron's own; rename it`, { file: reserved });
  const modules: BundleModule[] = [{ name: main, type: "esModule" }];
  for (const path of [...files.keys()].sort()) {
    if (path !== main && !isNonModule(path)) modules.push({ name: path, type: moduleType(path) });
  }

  const digest = digestFiles(files);
  return {
    files,
    spec: {
      service,
      version: versionId(label, digest),
      digest,
      main,
      compatibilityDate: manifest.compatibilityDate ?? DEFAULT_COMPATIBILITY_DATE,
      compatibilityFlags: manifest.compatibilityFlags ?? (manifest.compatibilityDate ? [] : [...DEFAULT_COMPATIBILITY_FLAGS]),
      vars: manifest.vars ?? {},
      breaking: manifest.breaking ?? false,
      modules,
      ...(manifest.limits ? { limits: { ...manifest.limits } } : {}),
      ...(manifest.rollout ? { rollout: { ...manifest.rollout, steps: [...manifest.rollout.steps] } } : {}),
    },
  };
}
