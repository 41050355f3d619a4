// Section 6, density, second part: workerd alone serving 1 to 1,000 live Restate SDK versions,
// without Restate. Registering a thousand deployments with restate-server takes longer than the
// section's budget (density.ts stops where its prediction passes it), so what workerd holds at
// that size is measured here directly, labelled as such in the report.
//
// The node's shape: `cells` scratch workerds (the daemon's default is 4), each built by the
// reconciler's own buildLoaderConfig with request identity ON (every request carries a JWT signed
// the way Restate signs it, so the router verifies each one) and the bound on loaded versions in
// force; version i lives in cell i mod cells, as the cell assignment spreads services. The
// versions are the density section's: copies of the greeter declaring their own service.
// Two rounds call every version once, in the same order, one call at a time: the first finds
// nothing loaded (every call is a first call to a cold version); in the second, a cell holding
// more versions than it keeps loaded has unloaded each one again before its turn comes (the
// least recently used goes first), so those calls are cold too: the worst case of the bound.
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { cp, link, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import pino from "pino";
import { HttpClient } from "../../reconciler/core/http-client.ts";
import { publicKeyV1, identityHeaders } from "../../reconciler/restate/identity.ts";
import { readBundle, type BundleSpec } from "../../reconciler/source/bundle.ts";
import { buildLoaderConfig, CONTROL_SOCKET, DEFAULT_LOADED_MAX } from "../../reconciler/workerd/build.ts";
import { readRouterModules } from "../../reconciler/workerd/router-source.ts";
import { encodeWorkerdConfig } from "../../reconciler/workerd/encode.ts";
import { startScratchWorkerd, type ScratchWorkerd } from "../../reconciler/workerd/scratch.ts";
import { INVOCATION_CONTENT_TYPE, invocationRequestBody } from "../../test/helpers/restate-protocol.ts";
import type { Cleanup } from "./cleanup.ts";
import { densityService, writeDensityBundle } from "./density-bundles.ts";
import { totalMemory, type ProcessMemory } from "./memory.ts";
import { percentile } from "./stats.ts";

type Memory = ProcessMemory & { each: number[] };

export interface DirectRound {
  p50: number;
  p99: number;
  max: number;
  failed: number;
  /** Memory of the cells after the round. */
  after: Memory;
}

export interface DirectStep {
  versions: number;
  cells: number;
  loadedMax: number;
  /** Start of the cells (nothing loaded), ms, and their memory then. */
  startMs: number;
  rest: Memory;
  /** One call to each version, nothing loaded before: every call a first call. */
  first: DirectRound;
  /** The same again: warm where a cell holds no more than loadedMax versions, cold otherwise. */
  second: DirectRound;
  /** workerd compiled its bootstrap scripts from source in every isolate: its built-in compile cache did not match the V8 flags. */
  bootstrapCacheRejected: boolean;
  v8Flags?: string[];
}

export interface DirectResult {
  steps: DirectStep[];
}

export interface DirectOptions {
  sizes: number[];
  cells: number;
  loadedMax?: number;
  /** V8 flags instead of the daemon's (build.ts V8_FLAGS), for experiments by hand. */
  v8Flags?: string[];
  /** A built greeter bundle directory (the template of every copy). */
  template: string;
  log: (line: string) => void;
}

const INVOKE_BODY = Buffer.from(invocationRequestBody("density"));
// What workerd logs when V8's flags differ from those its built-in bootstrap code cache was made
// with (some heap flags count): each new isolate then compiles workerd's own scripts from source.
const CACHE_REJECTED = "bootstrap compile cache failed its compatibility check";
const round1 = (v: number) => Math.round(v * 10) / 10;

interface Pool {
  specs: BundleSpec[];
  versionsDir: string;
}

/** Writes `n` copies of the greeter into a version store laid out as the reconciler's. */
async function buildPool(root: string, template: string, n: number): Promise<Pool> {
  const bundles = path.join(root, "direct-bundles");
  const versionsDir = path.join(root, "direct-versions");
  await mkdir(bundles, { recursive: true });
  const wasm = (await readdir(template)).filter((f) => f.endsWith(".wasm"));
  const specs: BundleSpec[] = [];
  for (let i = 1; i <= n; i++) {
    const dir = await writeDensityBundle(template, bundles, i, { linkFiles: wasm });
    const { spec } = await readBundle(dir);
    const dest = path.join(versionsDir, spec.service, spec.version, "bundle");
    await mkdir(dest, { recursive: true });
    for (const f of await readdir(dir)) {
      if (wasm.includes(f)) await link(path.join(template, f), path.join(dest, f));
      else await cp(path.join(dir, f), path.join(dest, f));
    }
    await rm(dir, { recursive: true, force: true });
    specs.push(spec);
  }
  return { specs, versionsDir };
}

async function startCells(root: string, pool: Pool, n: number, cells: number, o: DirectOptions, privateKey: KeyObject, cleanup: Cleanup): Promise<{ cells: ScratchWorkerd[]; startMs: number }> {
  const router = await readRouterModules();
  const publicKey = publicKeyV1(createPublicKey(privateKey));
  const out: ScratchWorkerd[] = [];
  const t0 = performance.now();
  try {
    for (let c = 0; c < cells; c++) {
      const specs = pool.specs.slice(0, n).filter((_, i) => i % cells === c);
      const config = buildLoaderConfig(specs, router, { identityKeys: [publicKey], outbound: "none", loadedMax: o.loadedMax }, pool.versionsDir);
      if (o.v8Flags) config.v8Flags = o.v8Flags;
      const dir = path.join(root, `direct-${n}-cell-${c}`);
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, "config.bin");
      await writeFile(file, encodeWorkerdConfig(config));
      const w = await startScratchWorkerd(file, {
        logger: pino({ level: "silent" }), routerVerifies: true,
        extraArgs: ["--experimental", "--socket-addr", `${CONTROL_SOCKET}=unix:${path.join(dir, "c.sock")}`],
      });
      cleanup.trackPid(w.pid);
      out.push(w);
    }
  } catch (err) {
    await stopCells(out, cleanup);
    throw err;
  }
  return { cells: out, startMs: performance.now() - t0 };
}

async function stopCells(cells: ScratchWorkerd[], cleanup: Cleanup): Promise<void> {
  for (const w of cells) {
    await w.stop();
    cleanup.untrackPid(w.pid);
  }
}

/** Calls every version once, in order, one at a time; latencies in ms. */
async function callEach(http: HttpClient, pool: Pool, n: number, cells: ScratchWorkerd[], privateKey: KeyObject): Promise<{ ms: number[]; failed: number }> {
  const ms: number[] = [];
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const spec = pool.specs[i]!;
    const service = densityService(i + 1);
    const aud = `/invoke/${service}/greet`;
    const url = `http://127.0.0.1:${cells[i % cells.length]!.port}/${spec.service}/${spec.version}${aud}`;
    const headers = { "content-type": INVOCATION_CONTENT_TYPE, accept: INVOCATION_CONTENT_TYPE, ...identityHeaders(privateKey, aud) };
    const t0 = performance.now();
    const r = await http.request(url, { method: "POST", headers, body: INVOKE_BODY as unknown as string, timeoutMs: 30_000 }).catch(() => undefined);
    ms.push(performance.now() - t0);
    if (r?.status !== 200 || !r.text.includes("Hello, density!")) failed++;
  }
  return { ms, failed };
}

async function round(http: HttpClient, pool: Pool, n: number, cells: ScratchWorkerd[], privateKey: KeyObject): Promise<DirectRound> {
  const r = await callEach(http, pool, n, cells, privateKey);
  return { p50: round1(percentile(r.ms, 50)), p99: round1(percentile(r.ms, 99)), max: round1(Math.max(...r.ms)), failed: r.failed, after: await totalMemory(cells.map((w) => w.pid)) };
}

export async function measureDensityDirect(root: string, cleanup: Cleanup, o: DirectOptions): Promise<DirectResult> {
  const out: DirectResult = { steps: [] };
  const biggest = Math.max(...o.sizes);
  const t0 = performance.now();
  const pool = await buildPool(root, o.template, biggest);
  o.log(`  workerd alone: ${biggest} greeter copies in a version store in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const { privateKey } = generateKeyPairSync("ed25519");
  const http = new HttpClient();
  try {
    for (const n of o.sizes) {
      const cells = Math.min(o.cells, n);
      const started = await startCells(root, pool, n, cells, o, privateKey, cleanup);
      try {
        // The router's isolate is made by the first request; workerd's stderr keeps only its tail.
        for (const w of started.cells) await http.request(`http://127.0.0.1:${w.port}/_gridiron/health`);
        const bootstrapCacheRejected = started.cells.some((w) => w.stderr().includes(CACHE_REJECTED));
        const rest = await totalMemory(started.cells.map((w) => w.pid));
        const first = await round(http, pool, n, started.cells, privateKey);
        const second = await round(http, pool, n, started.cells, privateKey);
        const step: DirectStep = { versions: n, cells, loadedMax: o.loadedMax ?? DEFAULT_LOADED_MAX, startMs: Math.round(started.startMs), rest, first, second, bootstrapCacheRejected, v8Flags: o.v8Flags };
        out.steps.push(step);
        o.log(`  workerd alone, ${n} versions in ${cells} cell(s), at most ${step.loadedMax} loaded per cell: ${Math.round(rest.rssMb)} MB at start, ${Math.round(first.after.rssMb)} MB after a call to each ` +
          `(first calls p50 ${first.p50} / p99 ${first.p99} ms, ${first.failed} failed), ${Math.round(second.after.rssMb)} MB after a second round (p50 ${second.p50} / p99 ${second.p99} ms, ${second.failed} failed)`);
      } finally {
        http.close();
        await stopCells(started.cells, cleanup);
      }
    }
  } finally {
    http.close();
    await rm(path.join(root, "direct-versions"), { recursive: true, force: true });
    await rm(path.join(root, "direct-bundles"), { recursive: true, force: true });
  }
  return out;
}
