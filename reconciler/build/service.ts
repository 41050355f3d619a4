/**
 * Bundles a demo service (`services/<name>/index.ts`) into a Gridiron bundle directory with esbuild.
 *
 *   node bin/build-service.js <name...> [--out <bundlesDir>]
 *   node bin/build-service.js --all [--out <bundlesDir>] [--if-missing]
 *
 * A bundle is `<out>/<name>/` holding `index.js` (ESM), its source map `index.js.map` (linked by
 * `//# sourceMappingURL`, so Gridiron maps workerd's stack traces back to the .ts sources), the
 * SDK's wasm module emitted next to it (`sdk_shared_core_wasm_bindings_bg-<HASH>.wasm`, imported by
 * index.js as `./<that name>`) and a `gridiron.json` manifest. The bundle is written to a dot-prefixed temp dir inside `<out>` and
 * renamed into place, so a watcher never sees a half-written bundle.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import { REPO_ROOT } from "../core/paths.ts";
import { DEFAULT_COMPATIBILITY_DATE, DEFAULT_COMPATIBILITY_FLAGS } from "../source/manifest.ts";
import { checkServiceName } from "../source/names.ts";

export { REPO_ROOT };
/** Where service sources live: `<repo>/services/<name>/index.ts`. */
export const SERVICES_DIR = path.join(REPO_ROOT, "services");
/** Default output folder: the reconciler's watched desired-state folder. */
export const DEFAULT_BUNDLES_DIR = path.join(REPO_ROOT, "bundles");


/** The `gridiron.json` manifest written by this script. */
export interface BundleManifest {
  name: string;
  main: string;
  compatibilityDate: string;
  compatibilityFlags: string[];
}

/**
 * Which adapter turns workerd's fetch events into Restate SDK calls. "gridiron" (default):
 * reconciler/build/restate-fetch.js, which answers request-response calls in one buffer (see there);
 * "sdk": the SDK's own streaming adapter, unchanged.
 */
export type FetchAdapter = "gridiron" | "sdk";
export const FETCH_ADAPTERS: readonly FetchAdapter[] = ["gridiron", "sdk"];

export interface BuildOptions {
  /** esbuild `define` map, e.g. `{ "process.env.X": '"1"' }` (values are JS source text). */
  define?: Record<string, string>;
  /** Directory holding `<name>/index.ts`; defaults to `<repo>/services`. */
  servicesDir?: string;
  /** Default "gridiron". */
  fetchAdapter?: FetchAdapter;
}

/** Gridiron's replacement for the SDK module below. */
export const FETCH_ADAPTER_FILE = fileURLToPath(new URL("./restate-fetch.js", import.meta.url));
const SDK_PACKAGE = "@restatedev/restate-sdk-cloudflare-workers";
const SDK_FETCH_NAMESPACE = "gridiron-sdk-fetch";
const SDK_FETCH_MODULE = /[\\/]@restatedev[\\/]restate-sdk-cloudflare-workers[\\/]dist[\\/]endpoint[\\/]handlers[\\/]fetch\.js$/;
/** SDK releases whose internals (handler.handle/process, utils.js, errors.js) the adapter was written against. */
const ADAPTER_SDK_RANGE = /^1\.17\./;

/**
 * Swaps the SDK's fetch adapter for Gridiron's when the bundle uses an SDK release it was written
 * for. With any other release the SDK's own adapter stays and `warnings` says so: the bundle still
 * works, only without the faster path.
 */
function fetchAdapterPlugin(warnings: string[]): esbuild.Plugin {
  return {
    name: "gridiron-restate-fetch",
    setup(build) {
      build.onLoad({ filter: SDK_FETCH_MODULE, namespace: "file" }, async (args) => {
        const pkgFile = path.join(path.dirname(args.path), "..", "..", "..", "package.json");
        const version = (JSON.parse(await readFile(pkgFile, "utf8")) as { version?: string }).version ?? "unknown";
        const original = await readFile(args.path, "utf8");
        if (!ADAPTER_SDK_RANGE.test(version) || !original.includes("function fetcher(handler)")) {
          warnings.push(`${SDK_PACKAGE} ${version}: Gridiron's fetch adapter is written for 1.17.x, so this bundle uses the SDK's own adapter (slower in workerd; see docs/performance.md)`);
          return undefined;
        }
        return { contents: await readFile(FETCH_ADAPTER_FILE, "utf8"), resolveDir: path.dirname(args.path), loader: "js" };
      });
      // The adapter hands bidirectional endpoints to the SDK's own adapter, imported under this
      // name: the original module, loaded a second time in a namespace of its own.
      build.onResolve({ filter: /^gridiron:sdk-fetch$/ }, (args) => ({ path: args.importer, namespace: SDK_FETCH_NAMESPACE }));
      build.onLoad({ filter: /.*/, namespace: SDK_FETCH_NAMESPACE }, async (args) => ({
        contents: await readFile(args.path, "utf8"),
        resolveDir: path.dirname(args.path),
        loader: "js",
      }));
    },
  };
}

export interface BuildResult {
  /** Final bundle directory, `<outDir>/<name>`. */
  dir: string;
  /** File names in the bundle (sorted), e.g. `gridiron.json`, `index.js`, `sdk_…-HASH.wasm`. */
  files: string[];
  /** The fetch adapter in the bundle; "none" if the bundle does not use the SDK's fetch endpoint. */
  fetchAdapter: FetchAdapter | "none";
  /** Why the build fell back to the SDK's adapter, if it did. */
  warnings: string[];
}

/** Builds `services/<name>/index.ts` into `<outDir>/<name>/`, replacing any existing bundle. */
export async function buildService(name: string, outDir: string, opts: BuildOptions = {}): Promise<BuildResult> {
  // The bundle directory name is the service name the reconciler serves: hold it to the same rule.
  const problem = checkServiceName(name);
  if (problem) throw new Error(problem);
  const entry = path.join(opts.servicesDir ?? SERVICES_DIR, name, "index.ts");
  if (!existsSync(entry)) throw new Error(`no service source at ${entry}`);

  await mkdir(outDir, { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const tmpDir = path.join(outDir, `.${name}.tmp-${suffix}`);
  const finalDir = path.join(outDir, name);

  const adapter = opts.fetchAdapter ?? "gridiron";
  if (!FETCH_ADAPTERS.includes(adapter)) throw new Error(`unknown fetch adapter ${JSON.stringify(adapter)} (expected ${FETCH_ADAPTERS.join(" or ")})`);
  const warnings: string[] = [];
  try {
    const result = await esbuild.build({
      entryPoints: { index: entry },
      outdir: tmpDir,
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      conditions: ["workerd", "worker", "browser"],
      mainFields: ["module", "main"],
      external: ["node:*"],
      // The SDK does `import wkmod from "./…_bg.wasm"`: emit the file beside index.js and keep the
      // import as a relative path, which workerd resolves to a `wasm` module of that name.
      loader: { ".wasm": "copy" },
      assetNames: "[name]-[hash]",
      ...(opts.define ? { define: opts.define } : {}),
      absWorkingDir: REPO_ROOT,
      // The map carries positions only (no copies of the sources): a stack frame needs no more.
      sourcemap: "linked",
      sourcesContent: false,
      logLevel: "silent",
      write: true,
      metafile: true,
      plugins: adapter === "gridiron" ? [fetchAdapterPlugin(warnings)] : [],
    });
    const sdkFetchBundled = Object.keys(result.metafile.inputs).some((f) => SDK_FETCH_MODULE.test(`/${f}`));
    await nameSourcesFromRepo(path.join(tmpDir, "index.js.map"), tmpDir);
    const manifest: BundleManifest = {
      name,
      main: "index.js",
      compatibilityDate: DEFAULT_COMPATIBILITY_DATE,
      compatibilityFlags: [...DEFAULT_COMPATIBILITY_FLAGS],
    };
    await writeFile(path.join(tmpDir, "gridiron.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    const files = (await readdir(tmpDir)).sort();

    // Replace atomically-ish: move the old bundle aside, move the new one in, then delete the old.
    const oldDir = path.join(outDir, `.${name}.old-${suffix}`);
    let movedOld = false;
    try {
      await rename(finalDir, oldDir);
      movedOld = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    try {
      await rename(tmpDir, finalDir);
    } catch (err) {
      if (movedOld) await rename(oldDir, finalDir).catch(() => undefined);
      throw err;
    }
    if (movedOld) await rm(oldDir, { recursive: true, force: true });
    return { dir: finalDir, files, fetchAdapter: !sdkFetchBundled ? "none" : adapter === "gridiron" && warnings.length === 0 ? "gridiron" : "sdk", warnings };
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * esbuild names each source relative to the output directory (`../../services/shop/index.ts`),
 * which says nothing once the bundle is copied elsewhere (the version store, a git repository).
 * Sources inside the repository are renamed relative to its root (`services/shop/index.ts`), so a
 * mapped stack frame reads the same on every machine; others keep their absolute path.
 */
async function nameSourcesFromRepo(mapFile: string, outDir: string): Promise<void> {
  const map = JSON.parse(await readFile(mapFile, "utf8")) as { sources?: string[] };
  map.sources = (map.sources ?? []).map((s) => {
    if (/^[a-z][a-z0-9+.-]*:/i.test(s)) return s; // a plugin namespace, not a file
    const abs = path.resolve(outDir, s);
    const rel = path.relative(REPO_ROOT, abs);
    return rel.startsWith("..") || path.isAbsolute(rel) ? abs : rel.split(path.sep).join("/");
  });
  await writeFile(mapFile, JSON.stringify(map));
}

/** Names of all services with a `services/<name>/index.ts`, sorted. */
export async function listServices(servicesDir: string = SERVICES_DIR): Promise<string[]> {
  const entries = await readdir(servicesDir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && checkServiceName(e.name) === null && existsSync(path.join(servicesDir, e.name, "index.ts")))
    .map((e) => e.name)
    .sort();
}

interface CliArgs {
  names: string[];
  all: boolean;
  out: string;
  ifMissing: boolean;
  fetchAdapter: FetchAdapter;
}

const USAGE = `usage: build-service <name...> [--out <bundlesDir>] [--fetch-adapter gridiron|sdk]
       build-service --all [--out <bundlesDir>] [--if-missing] [--fetch-adapter gridiron|sdk]

  --fetch-adapter  gridiron (default): answer Restate's request-response calls in one buffer,
                   about a third less workerd CPU per call; sdk: the Restate SDK's own adapter`;

function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = { names: [], all: false, out: DEFAULT_BUNDLES_DIR, ifMissing: false, fetchAdapter: "gridiron" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--all") args.all = true;
    else if (a === "--if-missing") args.ifMissing = true;
    else if (a === "--out" || a.startsWith("--out=")) {
      const v = a === "--out" ? argv[++i] : a.slice("--out=".length);
      if (!v) throw new Error("--out needs a directory");
      args.out = path.resolve(v);
    } else if (a === "--fetch-adapter" || a.startsWith("--fetch-adapter=")) {
      const v = a === "--fetch-adapter" ? argv[++i] : a.slice("--fetch-adapter=".length);
      if (!FETCH_ADAPTERS.includes(v as FetchAdapter)) throw new Error(`--fetch-adapter expects ${FETCH_ADAPTERS.join(" or ")}\n${USAGE}`);
      args.fetchAdapter = v as FetchAdapter;
    } else if (a === "-h" || a === "--help") throw new Error(USAGE);
    else if (a.startsWith("-")) throw new Error(`unknown option ${a}\n${USAGE}`);
    else args.names.push(a);
  }
  if (args.all && args.names.length > 0) throw new Error(`give service names or --all, not both\n${USAGE}`);
  if (!args.all && args.names.length === 0) throw new Error(USAGE);
  return args;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(2)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${n} B`;
}

/** CLI entry point; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const names = args.all ? await listServices() : args.names;
  let failed = 0;
  for (const name of names) {
    const target = path.join(args.out, name);
    if (args.ifMissing && existsSync(target)) {
      console.log(`${name}: exists, skipped (${path.relative(process.cwd(), target) || "."})`);
      continue;
    }
    const t0 = performance.now();
    try {
      const { dir, files, fetchAdapter, warnings } = await buildService(name, args.out, { fetchAdapter: args.fetchAdapter });
      for (const w of warnings) console.warn(`${name}: warning: ${w}`);
      let size = 0;
      for (const f of files) size += (await stat(path.join(dir, f))).size;
      const ms = Math.round(performance.now() - t0);
      const adapter = fetchAdapter === "none" ? "" : `, ${fetchAdapter} fetch adapter`;
      console.log(`${name}: ${path.relative(process.cwd(), dir) || "."} [${files.join(", ")}] ${formatBytes(size)}${adapter}, ${ms} ms`);
    } catch (err) {
      failed++;
      console.error(`${name}: build failed: ${(err as Error).message}`);
    }
  }
  return failed > 0 ? 1 : 0;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  process.exitCode = await main(process.argv.slice(2));
}
