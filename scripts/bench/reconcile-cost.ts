// Section 4: what a reconcile pass costs as versions pile up. Trivial bundles (trivial-bundle.ts)
// are added in steps up to each size; at each size: no-op passes (nothing changed), one-change
// passes (one new bundle → store, validate, a new workerd generation with every live version,
// register), workerd's RSS and the start-up time of a generation. The one change is a new
// service rather than new bytes for an existing one: a replaced version would drain, and while
// anything drains the reconciler polls every 2 s, which would land inside the next measurement. The pieces of a no-op
// pass are also timed from outside (reading the source, Restate's deployment list, the store) to
// show where its time goes.
import path from "node:path";
import { performance } from "node:perf_hooks";
import { buildLoaderConfig } from "../../reconciler/workerd/build.ts";
import { readRouterModules } from "../../reconciler/workerd/router-source.ts";
import { DEFAULT_LIMITS, type BundleCache } from "../../reconciler/source/bundle.ts";
import { readDesired } from "../../reconciler/source/desired.ts";
import { DRAIN_QUERY } from "../../reconciler/restate/invocations.ts";
import { VersionStore } from "../../reconciler/store/versions.ts";
import type { ReconcileResult } from "../../reconciler/reconcile/status.ts";
import { rssMb, settle, waitFor, type BenchMesh } from "./mesh.ts";
import { median } from "./stats.ts";
import type { Cleanup } from "./cleanup.ts";
import { withScratchWorkerd } from "./scratch-workerd.ts";
import { writeTrivialBundle } from "./trivial-bundle.ts";

export interface SizeResult {
  /** The step's target: trivial bundles in the source. */
  size: number;
  /** Versions live (registered and served) when the no-op passes ran; one-change passes add one each. */
  versions: number;
  /** Passes that brought the mesh to this size: wall time, versions added, ms per added version. */
  grow: { added: number; wallMs: number; perVersionMs: number; passes: number };
  noop: { durationMs: number[]; wallMs: number[] };
  oneChange: { durationMs: number[]; wallMs: number[]; validateMs: number[]; handoverMs: number[]; registerMs: number[] };
  /** workerd RSS (MB) after the last one-change pass. */
  workerdRssMb?: number;
  /**
   * Loader mode: a fresh generation with this live set (what a crash restart starts):
   * spawn → listening, then the first and a second GET /discover of one version (cold load, warm).
   */
  freshGeneration?: { startMs: number; coldMs: number; warmMs: number };
  /** Pieces of a no-op pass timed from the bench process (median of 3), ms. */
  /** Cold = nothing cached (first pass after start); warm = with a cache primed by one read, as later passes. */
  noopPieces: { readSourceCold: number; readSourceWarm: number; listDeployments: number; drainQuery: number; listStoreCold: number };
}

export interface ReconcileCostOptions {
  sizes: number[];
  noopPasses: number;
  oneChangePasses: number;
  /** Stop growing when the next step is predicted to take longer than this (ms). */
  growBudgetMs: number;
  /** The mesh's workerd mode, for the labels. */
  mode: string;
  log: (line: string) => void;
  /** Stops the scratch workerd of the fresh-generation measurement if the bench is interrupted. */
  cleanup: Cleanup;
}

async function reconcile(mesh: BenchMesh): Promise<{ result: ReconcileResult; wallMs: number }> {
  const t0 = performance.now();
  const r = await mesh.http.request(`${mesh.apiUrl}/reconcile`, { method: "POST", timeoutMs: 900_000 });
  const wallMs = performance.now() - t0;
  const result = JSON.parse(r.text) as ReconcileResult;
  if (result.errors.length > 0) throw new Error(`reconcile pass #${result.id} failed: ${result.errors.map((e) => e.message).join("; ")}`);
  return { result, wallMs };
}

async function timeIt(fn: () => Promise<unknown>, times = 3): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

export async function measureReconcileCost(mesh: BenchMesh, o: ReconcileCostOptions): Promise<{ sizes: SizeResult[]; skipped: number[] }> {
  const out: SizeResult[] = [];
  const skipped: number[] = [];
  let count = 0;
  let extra = 0;
  let perVersionMs = 0;
  // Right after start-up Restate's SQL endpoint may still answer 500 (partitions not placed yet):
  // wait for one clean pass before measuring anything.
  await waitFor("a clean reconcile pass", async () => ((await reconcile(mesh).catch(() => undefined)) ? true : undefined), 60_000);
  for (const size of o.sizes) {
    const add = size - count - extra;
    if (add > 0 && perVersionMs > 0 && add * perVersionMs > o.growBudgetMs) {
      o.log(`  ${size} versions: skipped (adding ${add} at ~${Math.round(perVersionMs)} ms each would take ~${Math.round((add * perVersionMs) / 1000)} s, over the ${o.growBudgetMs / 1000} s budget)`);
      skipped.push(size);
      continue;
    }
    // Grow: write the bundles, then one API pass; the watcher may have started passes meanwhile
    // (they queue before ours), so the wall time from the first write is the honest figure.
    const since = Date.now();
    const t0 = performance.now();
    for (let i = count; i < count + add; i++) await writeTrivialBundle(mesh.bundlesDir, i);
    await reconcile(mesh);
    const growWall = performance.now() - t0;
    await settle(mesh.log);
    const passes = (await mesh.log.events(since)).filter((e) => e.msg === "reconcile pass done").length;
    perVersionMs = add > 0 ? growWall / add : perVersionMs;
    count += Math.max(0, add);
    o.log(`  ${size} versions: added ${add} in ${(growWall / 1000).toFixed(1)} s (${Math.round(perVersionMs)} ms per version, ${passes} passes)`);

    const live = (await mesh.status()).services.reduce((n, svc) => n + svc.versions.length, 0);
    const noop = { durationMs: [] as number[], wallMs: [] as number[] };
    for (let i = 0; i < o.noopPasses; i++) {
      const { result, wallMs } = await reconcile(mesh);
      if (result.outcome !== "noop") o.log(`  warning: pass #${result.id} expected noop, was ${result.outcome}`);
      noop.durationMs.push(result.durationMs);
      noop.wallMs.push(wallMs);
    }

    const oneChange: SizeResult["oneChange"] = { durationMs: [], wallMs: [], validateMs: [], handoverMs: [], registerMs: [] };
    for (let i = 0; i < o.oneChangePasses; i++) {
      const at = Date.now();
      // Numbered far above the sizes, so the next growth step does not collide with them.
      await writeTrivialBundle(mesh.bundlesDir, 9000 + extra++);
      const { result, wallMs } = await reconcile(mesh);
      await settle(mesh.log);
      const events = (await mesh.log.events(at)).filter((e) => e.pass === result.id);
      const stored = events.find((e) => e.msg === "version stored");
      const validated = events.find((e) => e.msg === "version validated");
      const swapped = events.find((e) => e.msg === "workerd config swapped" || e.msg === "workerd live set updated");
      const registered = events.find((e) => e.msg === "version registered: new calls reach it");
      if (!stored || !swapped) {
        // The watcher's pass got there first and ours found nothing to do: not a one-change figure.
        o.log(`  warning: pass #${result.id} did not carry the change (${result.outcome}); skipped`);
        continue;
      }
      oneChange.durationMs.push(result.durationMs);
      oneChange.wallMs.push(wallMs);
      if (typeof validated?.ms === "number") oneChange.validateMs.push(validated.ms);
      const serveMs = swapped.handoverMs ?? swapped.updateMs;
      if (typeof serveMs === "number") oneChange.handoverMs.push(serveMs);
      if (registered) oneChange.registerMs.push(registered.time - swapped.time);
    }
    const status = await mesh.status();
    const workerdRssMb = status.workerd.pid ? await rssMb(status.workerd.pid) : undefined;
    const freshGeneration = o.mode === "loader" ? await measureFreshGeneration(mesh, o.cleanup) : undefined;

    const cache: BundleCache = new Map();
    await readDesired(mesh.bundlesDir, DEFAULT_LIMITS, cache);
    const noopPieces = {
      readSourceCold: await timeIt(() => readDesired(mesh.bundlesDir)),
      readSourceWarm: await timeIt(() => readDesired(mesh.bundlesDir, DEFAULT_LIMITS, cache)),
      listDeployments: await timeIt(() => mesh.http.request(`${mesh.adminUrl}/deployments`)),
      drainQuery: await timeIt(() => mesh.http.request(`${mesh.adminUrl}/query`, {
        method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify({ query: DRAIN_QUERY }),
      })),
      listStoreCold: await timeIt(() => new VersionStore(mesh.dataDir).list()),
    };
    const r: SizeResult = {
      size,
      versions: live,
      grow: { added: add, wallMs: growWall, perVersionMs, passes },
      noop,
      oneChange,
      ...(workerdRssMb !== undefined ? { workerdRssMb } : {}),
      ...(freshGeneration !== undefined ? { freshGeneration } : {}),
      noopPieces,
    };
    o.log(`  ${r.versions} live: no-op ${median(noop.durationMs)} ms (wall ${median(noop.wallMs).toFixed(0)}), one change ${median(oneChange.durationMs)} ms (workerd ${o.mode === "static" ? "start-up" : "live-set update"} ${median(oneChange.handoverMs)} ms), workerd RSS ${workerdRssMb?.toFixed(0)} MB${freshGeneration ? `; a fresh loader generation with this live set starts in ${Math.round(freshGeneration.startMs)} ms, first call to a version ${Math.round(freshGeneration.coldMs)} ms (cold load), then ${freshGeneration.warmMs.toFixed(1)} ms` : ""}`);
    out.push(r);
  }
  return { sizes: out, skipped };
}


/**
 * Loader mode: starts a scratch workerd with the loader config of every stored version (as a
 * crash restart would), times it until it listens, then one version's first /discover (its code read
 * from the store and loaded) and a second one. Request identity off: nobody signs these.
 */
async function measureFreshGeneration(mesh: BenchMesh, cleanup: Cleanup): Promise<{ startMs: number; coldMs: number; warmMs: number }> {
  const store = new VersionStore(mesh.dataDir);
  const specs = (await store.list()).map((s) => s.spec);
  const config = buildLoaderConfig(specs, await readRouterModules(), { identityKeys: null, outbound: "none" }, path.resolve(store.root));
  return withScratchWorkerd(config, { loader: true, cleanup }, async (w, startMs) => {
    const last = specs.at(-1)!;
    const url = `http://127.0.0.1:${w.port}/${last.service}/${last.version}/discover`;
    const get = async () => {
      const t = performance.now();
      const r = await mesh.http.request(url, { headers: { accept: "application/vnd.restate.endpointmanifest.v3+json" } });
      if (r.status !== 200) throw new Error(`fresh loader generation: ${url} answered ${r.status}: ${r.text.slice(0, 200)}`);
      return performance.now() - t;
    };
    const coldMs = await get();
    return { startMs, coldMs, warmMs: await get() };
  });
}
