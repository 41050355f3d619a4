// Garbage collection by requests served (loader mode; build.ts gives it V8's --expose-gc). Every
// request leaves C++ objects (headers, bodies, stream state) behind JS wrappers that only a full GC
// frees, V8 does not count them when it decides when to collect, and workerd's allocator keeps the
// pages they used for the life of the process: so the memory a cell holds is the peak of that
// garbage. The router therefore runs a full GC in each loaded version, and in itself, once every
// so many requests it served. How many follows what a collection costs there (a large live heap
// takes long to mark), so that collecting stays within GC_BUDGET_US per request; the median of
// the last few readings decides.
export const collect = typeof globalThis.gc === "function" ? globalThis.gc : undefined;
if (collect) globalThis.gc = undefined;
const GC_EVERY_MIN = 256;
const GC_EVERY_MAX = 16384;
const GC_BUDGET_US = 12;
const GC_PROBE_EVERY = 8;
export const GC_MODULE = "__gridiron_gc__.js";
export const COLLECT_ENTRYPOINT = "__gridironCollect";

class Collector {
  count = 0;
  every = GC_EVERY_MIN;
  collections = 0;
  readings = [];
  /** Counts one request; true when a collection is due. */
  due() {
    if (++this.count < this.every) return false;
    this.count = 0;
    return true;
  }
  /** Whether the collection now due should also measure what marking costs (every GC_PROBE_EVERY-th). */
  probing() {
    return this.collections++ % GC_PROBE_EVERY === 0;
  }
  /** What GET /collections on the control socket reports. */
  summary() {
    return { every: this.every, collections: this.collections, markMs: this.readings.length > 0 ? this.median() : null };
  }
  median() {
    return [...this.readings].sort((a, b) => a - b)[this.readings.length >> 1];
  }
  took(ms) {
    if (typeof ms !== "number") return; // no probe this time
    this.readings.push(ms);
    if (this.readings.length > 5) this.readings.shift();
    const us = this.median() * 1000;
    this.every = Math.min(GC_EVERY_MAX, Math.max(GC_EVERY_MIN, Math.ceil(us / GC_BUDGET_US)));
  }
}

export const routerCollector = new Collector();
const collectors = new Map(); // loaded version key -> Collector
export function collectorOf(key) {
  let c = collectors.get(key);
  if (!c) collectors.set(key, (c = new Collector()));
  return c;
}

/**
 * Counts a request in this isolate; when a collection is due, runs it after the request has gone
 * on its way (a timer, not a microtask, which would run before it). router.js, lane.js.
 */
export function collectSoon(ctx) {
  if (collect && routerCollector.due()) ctx.waitUntil(new Promise((r) => setTimeout(r, 0)).then(() => routerCollector.took(collectGarbage(collect, routerCollector.probing()))));
}

/**
 * A full GC with `gc`. Probing, a second one follows and is timed: it finds no garbage left, so
 * its time is what marking the live heap costs, the part a collection adds to the isolate's work
 * (freeing the garbage costs the same whoever starts it). workerd's clock runs during JS; under
 * a frozen clock the reading is 0 and collections stay at their most frequent.
 */
export function collectGarbage(gc, probe) {
  gc();
  if (!probe) return undefined;
  const t0 = performance.now();
  gc();
  return performance.now() - t0;
}

// The version's side: its own `gc`, taken before the bundle's modules run, and the entrypoint the
// router calls. Without --expose-gc it answers null and collects nothing.
export const GC_MODULE_SOURCE = [
  "const gc = typeof globalThis.gc === \"function\" ? globalThis.gc : undefined;",
  "if (gc) globalThis.gc = undefined;",
  `const collectGarbage = ${collectGarbage.toString()};`,
  "export const collectEntrypoint = { fetch(request) { return Response.json({ ms: gc ? collectGarbage(gc, new URL(request.url).searchParams.has(\"probe\")) ?? null : null }); } };",
].join("\n");

/**
 * Collects in the version `key` through its collection entrypoint. `loaded` says whether the router
 * still holds it; `stub` gets it from the Worker Loader (which loads it if it is not).
 */
export async function collectVersion(key, loaded, stub) {
  if (!loaded()) return; // unloaded meanwhile: asking would load it again
  try {
    const c = collectorOf(key);
    const res = await stub().getEntrypoint(COLLECT_ENTRYPOINT).fetch(`http://gridiron/collect${c.probing() ? "?probe" : ""}`);
    const { ms } = await res.json();
    c.took(ms);
  } catch (err) {
    console.error(`gridiron: collecting garbage in ${key} failed: ${err?.message ?? err}`);
  }
}

/** Forgets what the collection knew of a version the router unloaded. */
export function forgetCollector(key) {
  collectors.delete(key);
}

/** What GET /collections on the control socket reports: the router's and each loaded version's. */
export function collections() {
  return { router: routerCollector.summary(), versions: Object.fromEntries([...collectors].map(([k, c]) => [k, c.summary()])) };
}
