// Source artifact → desired versions: one bundle per subdirectory, read and validated each on its
// own, so one bad bundle never hides the others.
import { readdir } from "node:fs/promises";
import PQueue from "p-queue";
import { join } from "node:path";
import { readBundle, type Bundle, type BundleCache, type BundleLimits, DEFAULT_LIMITS } from "./bundle.ts";
import { asGridironError, bundleError, GridironError } from "../core/errors.ts";

export interface Desired {
  bundles: Bundle[];
  /** Bundles that are present but invalid, keyed by the name they would serve under. */
  errors: Map<string, GridironError>;
  /** The folder holds no bundle at all (valid or not). */
  empty: boolean;
  /** The folder carries the explicit opt-in that "no bundles" means "remove everything". */
  allowEmpty: boolean;
}

const READ_CONCURRENCY = 32;

/** A file of this name at the top of the bundles folder turns an empty folder into "remove all". */
export const ALLOW_EMPTY_FILE = "gridiron-allow-empty";

export interface TopLevel<T> {
  /** The entries that are bundle directories. */
  bundles: T[];
  allowEmpty: boolean;
  /** No bundle and no ALLOW_EMPTY_FILE: the source must be refused, not read as "remove everything". */
  refusedEmpty: boolean;
}

/**
 * The empty-source rule, the same for every source kind: which top-level entries of the bundles
 * folder are bundles (directories, or links that may lead to one, not named with a leading dot:
 * dot-entries are temp dirs of writers that rename into place, like build-service and editors),
 * and whether a folder with none of them may mean "remove everything". A source that suddenly
 * yields nothing is an error unless it says so with ALLOW_EMPTY_FILE.
 */
export function classifyTopLevel<T extends { name: string; dir: boolean }>(entries: readonly T[]): TopLevel<T> {
  const bundles = entries.filter((e) => e.dir && !e.name.startsWith("."));
  const allowEmpty = entries.some((e) => e.name === ALLOW_EMPTY_FILE);
  return { bundles, allowEmpty, refusedEmpty: bundles.length === 0 && !allowEmpty };
}

export async function readDesired(dir: string, limits: BundleLimits = DEFAULT_LIMITS, cache?: BundleCache): Promise<Desired> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new GridironError("SOURCE_UNREADABLE", `cannot list bundles in ${dir}: ${(err as Error).message}`, { dir });
  }
  const bundles: Bundle[] = [];
  const errors = new Map<string, GridironError>();
  const owners = new Map<string, string>();
  const sorted = entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  const top = classifyTopLevel(sorted.map((entry) => ({ name: entry.name, dir: entry.isDirectory() || entry.isSymbolicLink(), entry })));
  const candidates = top.bundles.map((b) => b.entry);
  // Read concurrently (a no-op pass over hundreds of bundles is mostly waiting on stat calls),
  // then judge in name order so the outcome never depends on timing.
  const queue = new PQueue({ concurrency: READ_CONCURRENCY });
  const read = await Promise.all(candidates.map((entry) => queue.add(() =>
    readBundle(join(dir, entry.name), limits, cache).then((bundle) => ({ bundle }), (err: unknown) => ({ err: asGridironError(err) })))));
  candidates.forEach((entry, i) => {
    const r = read[i]!;
    if ("err" in r) {
      const e = r.err;
      const key = e.code === "BUNDLE_INVALID" && e.kind === "stalled" && String(e.context.bundle ?? "").length > 0 ? String(e.context.bundle) : entry.name;
      errors.set(key, e);
      return;
    }
    const bundle = r.bundle;
    const owner = owners.get(bundle.spec.service);
    if (owner !== undefined) {
      errors.set(bundle.spec.service, bundleError(bundle.spec.service,
        `directories "${owner}" and "${entry.name}" both declare service "${bundle.spec.service}"; keep one`));
      return;
    }
    owners.set(bundle.spec.service, entry.name);
    bundles.push(bundle);
  });
  // A service with a duplicate is held entirely: which one is meant is for a human to say.
  for (const service of errors.keys()) {
    const i = bundles.findIndex((b) => b.spec.service === service);
    if (i >= 0) bundles.splice(i, 1);
  }
  // Forget bundles that left the folder (or an older artifact directory).
  if (cache) {
    const present = new Set(candidates.map((e) => join(dir, e.name)));
    for (const key of cache.keys()) if (!present.has(key.slice(0, key.indexOf("\0")))) cache.delete(key);
  }
  // Every candidate ends up a bundle or an error, so this is "no bundle directory" as the rule says.
  return { bundles, errors, empty: bundles.length === 0 && errors.size === 0, allowEmpty: top.allowEmpty };
}
