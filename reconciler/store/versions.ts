// The immutable version store: <data>/versions/<service>/<version>/{spec.json,bundle/…}.
// A version directory appears by rename of a fully written and fsynced temp directory, so a
// directory that exists with its spec.json is complete; anything else is a leftover of a crash
// and is ignored (and swept by sweepTemp).
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { syncDir, TEMP_PREFIX, writeDirAtomic, writeFileSynced } from "../core/atomic-write.ts";
import { digestFiles, type Bundle, type BundleSpec } from "../source/bundle.ts";
import { GridironError } from "../core/errors.ts";
import { fault } from "../core/faults.ts";
import { checkBundlePath, checkServiceName, isVersionId } from "../source/names.ts";

export interface StoredVersion {
  spec: BundleSpec;
  /** Directory holding the bundle's files exactly as they were read. */
  bundleDir: string;
  storedAt: string;
}

const SPEC_FILE = "spec.json";

export class VersionStore {
  readonly root: string;
  /** Verified module bytes per stored version; versions are immutable, so this never goes stale. */
  readonly #files = new Map<string, Map<string, Uint8Array>>();
  #list: Promise<StoredVersion[]> | undefined;

  constructor(dataDir: string) {
    this.root = join(dataDir, "versions");
  }

  versionDir(service: string, version: string): string {
    // Names are validated at read time; re-check here because this is where they become paths.
    if (checkServiceName(service) !== null || !isVersionId(version)) {
      throw new GridironError("STORE_BAD_NAME", `refusing store path for ${JSON.stringify(service)}/${JSON.stringify(version)}`);
    }
    return join(this.root, service, version);
  }

  /** Materialises a bundle once. Idempotent: an existing version is left untouched. */
  async put(bundle: Bundle): Promise<{ stored: StoredVersion; created: boolean }> {
    const { service, version } = bundle.spec;
    const existing = await this.get(service, version);
    if (existing) return { stored: existing, created: false };

    const finalDir = this.versionDir(service, version);
    for (const rel of bundle.files.keys()) {
      const problem = checkBundlePath(rel);
      if (problem) throw new GridironError("STORE_BAD_NAME", `refusing to store ${service}/${version}: ${problem}`, { service, version });
    }
    const serviceDir = dirname(finalDir);
    await mkdir(serviceDir, { recursive: true });
    const storedAt = new Date().toISOString();
    try {
      await writeDirAtomic(finalDir, async (tmp) => {
        const dirs = new Set<string>();
        for (const [rel, bytes] of bundle.files) {
          const target = join(tmp, "bundle", rel);
          if (!dirs.has(dirname(target))) {
            await mkdir(dirname(target), { recursive: true });
            dirs.add(dirname(target));
          }
          await writeFileSynced(target, bytes);
        }
        for (const dir of dirs) await syncDir(dir);
        await writeFileSynced(join(tmp, SPEC_FILE), JSON.stringify({ spec: bundle.spec, storedAt }, null, 2));
        await syncDir(tmp);
      }, { durable: true });
    } catch (err) {
      // Another writer may have won the race with identical bytes: that is success.
      this.#list = undefined;
      const raced = await this.get(service, version);
      if (raced) return { stored: raced, created: false };
      // Node's recursive mkdir reports ENOENT on a read-only file system: name the real cause.
      const code = (await probeWritable(serviceDir)) ?? (err as NodeJS.ErrnoException).code;
      if (code === "EROFS") (err as Error).message = `the file system is read-only (${(err as Error).message})`;
      throw new GridironError(code === "ENOSPC" || code === "EROFS" || code === "EACCES" ? "STORE_UNWRITABLE" : "STORE_WRITE",
        `cannot store ${service}/${version} under ${this.root}: ${(err as Error).message}`, { service, version, code }, { cause: err });
    }
    this.#files.set(`${service}/${version}`, new Map(bundle.files));
    const stored: StoredVersion = { spec: bundle.spec, bundleDir: join(finalDir, "bundle"), storedAt };
    // Keep a listed cache current rather than dropping it: re-reading every spec.json after each
    // deploy made a one-change pass grow with the number of stored versions.
    this.#patchList((list) => [...list.filter((s) => !(s.spec.service === service && s.spec.version === version)), stored]);
    return { stored, created: true };
  }

  async get(service: string, version: string): Promise<StoredVersion | null> {
    const dir = this.versionDir(service, version);
    let text: string;
    try {
      text = await readFile(join(dir, SPEC_FILE), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    const { spec, storedAt } = JSON.parse(text) as { spec: BundleSpec; storedAt: string };
    return { spec, bundleDir: join(dir, "bundle"), storedAt };
  }

  /**
   * Every complete version. Cached: this process is the store's only writer, and put/remove
   * keep the cache right, so a no-op pass does not re-read every spec.json.
   */
  async list(): Promise<StoredVersion[]> {
    this.#list ??= this.#readList();
    return [...(await this.#list)];
  }

  #patchList(change: (list: StoredVersion[]) => StoredVersion[]): void {
    const current = this.#list;
    if (current === undefined) return;
    // A failed read leaves the next list() to read afresh.
    this.#list = current.then(change, () => this.#readList());
  }

  async #readList(): Promise<StoredVersion[]> {
    const out: StoredVersion[] = [];
    for (const service of await readdirOrEmpty(this.root)) {
      if (checkServiceName(service) !== null) continue;
      for (const version of await readdirOrEmpty(join(this.root, service))) {
        if (!isVersionId(version)) continue;
        const stored = await this.get(service, version);
        if (stored) out.push(stored);
      }
    }
    return out;
  }

  /**
   * The stored files of a version, checked against its digest the first time they are read, so a
   * damaged store is caught before workerd is asked to run it.
   */
  async files(stored: StoredVersion): Promise<Map<string, Uint8Array>> {
    const key = `${stored.spec.service}/${stored.spec.version}`;
    const cached = this.#files.get(key);
    if (cached) return cached;
    const files = new Map<string, Uint8Array>();
    await collect(stored.bundleDir, "", files);
    const digest = digestFiles(files);
    if (digest !== stored.spec.digest) {
      throw new GridironError("STORE_CORRUPT",
        `stored version ${key} does not match its digest (${digest} != ${stored.spec.digest}); delete ${dirname(stored.bundleDir)} and reconcile again`,
        { service: stored.spec.service, version: stored.spec.version });
    }
    this.#files.set(key, files);
    return files;
  }

  /**
   * Deletes a stored version (retention). Renamed away first, so the version disappears in one
   * step and a crash mid-delete leaves only a temp dir for sweepTemp.
   */
  async remove(service: string, version: string): Promise<void> {
    const dir = this.versionDir(service, version);
    const doomed = join(dirname(dir), `${TEMP_PREFIX}gc-${version}-${randomBytes(4).toString("hex")}`);
    try {
      await rename(dir, doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    this.#files.delete(`${service}/${version}`);
    this.#patchList((list) => list.filter((s) => !(s.spec.service === service && s.spec.version === version)));
    fault("during-gc");
    await rm(doomed, { recursive: true, force: true });
  }

  /** Removes temp directories left by a crash mid-write. */
  async sweepTemp(): Promise<number> {
    let removed = 0;
    for (const service of await readdirOrEmpty(this.root)) {
      for (const entry of await readdirOrEmpty(join(this.root, service))) {
        if (entry.startsWith(TEMP_PREFIX)) {
          await rm(join(this.root, service, entry), { recursive: true, force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

/** Returns the errno code that stops writing into `dir`, or undefined if a probe file can be written. */
async function probeWritable(dir: string): Promise<string | undefined> {
  const probe = join(dir, `${TEMP_PREFIX}probe-${randomBytes(4).toString("hex")}`);
  try {
    await (await open(probe, "w")).close();
    await rm(probe, { force: true });
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A stray file where a directory is expected (.DS_Store, README) holds no versions.
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw err;
  }
}

async function collect(root: string, prefix: string, out: Map<string, Uint8Array>): Promise<void> {
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) await collect(root, rel, out);
    else if (checkBundlePath(rel) === null) out.set(rel, new Uint8Array(await readFile(join(root, rel))));
  }
}
