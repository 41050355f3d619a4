// Source artifact → desired versions: one bundle per subdirectory, read and validated each on its
// own, so one bad bundle never hides the others.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { readBundle, type Bundle, type BundleCache, type BundleLimits, DEFAULT_LIMITS } from "./bundle.ts";
import { asGridironError, bundleError, GridironError } from "./errors.ts";

export interface Desired {
  bundles: Bundle[];
  /** Bundles that are present but invalid, keyed by the name they would serve under. */
  errors: Map<string, GridironError>;
  /** The folder holds no bundle at all (valid or not). */
  empty: boolean;
  /** The folder carries the explicit opt-in that "no bundles" means "remove everything". */
  allowEmpty: boolean;
}

/** A file of this name at the top of the bundles folder turns an empty folder into "remove all". */
export const ALLOW_EMPTY_FILE = "gridiron-allow-empty";

export async function readDesired(dir: string, limits: BundleLimits = DEFAULT_LIMITS, cache?: BundleCache): Promise<Desired> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new GridironError("SOURCE_UNREADABLE", "waiting", `cannot list bundles in ${dir}: ${(err as Error).message}`, { dir });
  }
  const bundles: Bundle[] = [];
  const errors = new Map<string, GridironError>();
  const owners = new Map<string, string>();
  let allowEmpty = false;
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    // Dot-entries are temp dirs of writers that rename into place (build-service, editors).
    if (entry.name.startsWith(".")) continue;
    if (entry.name === ALLOW_EMPTY_FILE) allowEmpty = true;
    if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
    let bundle: Bundle;
    try {
      bundle = await readBundle(join(dir, entry.name), limits, cache);
    } catch (err) {
      const e = asGridironError(err);
      if (e.code === "BUNDLE_INVALID" && e.kind === "stalled" && String(e.context.bundle ?? "").length > 0) {
        errors.set(String(e.context.bundle), e);
      } else {
        errors.set(entry.name, e);
      }
      continue;
    }
    const owner = owners.get(bundle.spec.service);
    if (owner !== undefined) {
      errors.set(bundle.spec.service, bundleError(bundle.spec.service,
        `directories "${owner}" and "${entry.name}" both declare service "${bundle.spec.service}"; keep one`));
      continue;
    }
    owners.set(bundle.spec.service, entry.name);
    bundles.push(bundle);
  }
  // A service with a duplicate is held entirely: which one is meant is for a human to say.
  for (const service of errors.keys()) {
    const i = bundles.findIndex((b) => b.spec.service === service);
    if (i >= 0) bundles.splice(i, 1);
  }
  // Forget bundles that left the folder (or an older artifact directory).
  if (cache) for (const key of cache.keys()) if (!entries.some((e) => key.startsWith(`${join(dir, e.name)}\0`))) cache.delete(key);
  return { bundles, errors, empty: bundles.length === 0 && errors.size === 0, allowEmpty };
}
