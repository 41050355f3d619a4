// Section 6, density: how many live Restate SDK versions one node holds, and what each costs in
// memory, against what a user would otherwise run: one Node SDK process per version.
//
// Gridiron: real SDK bundles (the greeter, built once; each copy declares its own Restate service
// D000001, D000002, … so every version registers side by side and answers calls), added in steps
// up to each size with one API pass, as reconcile-cost.ts grows its trivial versions. At each size:
// the RSS of every workerd process (cell) once the versions are registered (Restate's discovery
// has loaded each one), after one greet to each, and the first call to versions that are not
// loaded: every cell is SIGKILLed, the supervisor starts fresh generations with the same live set
// (what a crash restart starts) and a sample of versions is called once each through
// Restate ingress. Node: 1 and 10 processes of density-node.mjs, each registered with the same
// restate-server, RSS at rest and after one call each; other sizes are extrapolated linearly.
// Then workerd alone, without Restate, at every size (density-direct.ts): registering a thousand
// deployments is what limits the part through Restate.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildService, type FetchAdapter } from "../../reconciler/build/service.ts";
import type { ReconcileResult } from "../../reconciler/reconcile/status.ts";
import { RestateAdmin } from "../../reconciler/restate/admin.ts";
import { freePort } from "../../test/helpers/ports.ts";
import type { Cleanup } from "./cleanup.ts";
import { measureCpu, meshRoles } from "./cpu.ts";
import { densityService, writeDensityBundle } from "./density-bundles.ts";
import { measureDensityDirect, type DirectResult } from "./density-direct.ts";
import { totalMemory, workerdPids, type ProcessMemory } from "./memory.ts";
import { meshDirs, settle, startBenchMesh, waitFor, type BenchMesh } from "./mesh.ts";
import { percentile } from "./stats.ts";

type Memory = ProcessMemory & { each: number[] };

export interface DensityStep {
  /** Live versions (registered and served) at this step. */
  versions: number;
  grow: { added: number; wallMs: number; perVersionMs: number };
  /** After registration: Restate's discovery call has loaded every version into its cell. */
  rest: Memory;
  /** After one greet to each version through Restate ingress. */
  afterCalls: Memory;
  /** Latency of that one greet to each version (they were loaded at registration), ms. */
  calls: { p50: number; p99: number; failed: number };
  /** First calls to versions not loaded: fresh generations in every cell, a sample called once each. */
  cold?: { samples: number; p50: number; p99: number; max: number; failed: number; restartMs: number; afterMem: Memory; foreign: number };
}

export interface NodeAlternative {
  processes: number;
  /** Spawn → listening, median over the processes, ms. */
  startMs: number;
  rest: Memory;
  afterCalls: Memory;
  /** First call to each process through Restate ingress, ms. */
  firstCall: { p50: number; p99: number };
}

export interface DensityResult {
  bundle: string;
  steps: DensityStep[];
  skipped: number[];
  node: NodeAlternative[];
  /** workerd alone, without Restate (density-direct.ts). */
  direct?: DirectResult;
  /** --workerd-loaded-max of both parts; undefined: the daemon's default. */
  loadedMax?: number;
  notes: string[];
}

export type DensityPart = "mesh" | "direct";
export const DENSITY_PARTS: readonly DensityPart[] = ["mesh", "direct"];

export interface DensityOptions {
  sizes: number[];
  nodeProcesses: number[];
  coldSamples: number;
  /** Calls in flight during the one-call-to-each sweep. */
  concurrency: number;
  /** Stop growing when the next step is predicted to take longer than this (ms). */
  growBudgetMs: number;
  /** Through Restate (a whole mesh, and the Node alternative), and workerd alone. */
  parts: readonly DensityPart[];
  /** Versions a cell keeps loaded (--workerd-loaded-max); undefined: the daemon's default. */
  loadedMax?: number;
  /** V8 flags of the workerd-alone part; undefined: the daemon's (build.ts V8_FLAGS). */
  v8Flags?: string[];
  fetchAdapter: FetchAdapter;
  log: (line: string) => void;
}

async function reconcile(m: BenchMesh): Promise<ReconcileResult> {
  const r = await m.http.request(`${m.apiUrl}/reconcile`, { method: "POST", timeoutMs: 1_800_000 });
  const result = JSON.parse(r.text) as ReconcileResult;
  if (result.errors.length > 0) throw new Error(`reconcile pass #${result.id} failed: ${result.errors.slice(0, 3).map((e) => e.message).join("; ")}`);
  return result;
}

async function greet(m: BenchMesh, service: string): Promise<{ ms: number; ok: boolean }> {
  const t0 = performance.now();
  const r = await m.http.request(`${m.ingressUrl}/${service}/greet`, {
    method: "POST", headers: { "content-type": "application/json" }, body: '"density"', timeoutMs: 30_000,
  }).catch(() => undefined);
  return { ms: performance.now() - t0, ok: r?.status === 200 && r.text.includes("Hello, density!") };
}

/** Calls every service once, `concurrency` at a time; latencies in call order. */
async function sweep(m: BenchMesh, services: string[], concurrency: number): Promise<{ ms: number[]; failed: number }> {
  const ms: number[] = [];
  let failed = 0;
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, services.length) }, async () => {
    while (next < services.length) {
      const r = await greet(m, services[next++]!);
      ms.push(r.ms);
      if (!r.ok) failed++;
    }
  }));
  return { ms, failed };
}

const stats = (ms: number[]) => ({ p50: Math.round(percentile(ms, 50) * 10) / 10, p99: Math.round(percentile(ms, 99) * 10) / 10 });

/**
 * SIGKILLs every cell's workerd and waits for the supervisor's fresh generations to answer: the
 * live set is the same, nothing is loaded. Then Restate's pooled connections to the killed
 * processes are flushed by calling `warm` (one version per cell, left out of the sample).
 */
async function freshGenerations(m: BenchMesh, warm: string[]): Promise<number> {
  const before = workerdPids(await m.status());
  const t0 = performance.now();
  for (const pid of before) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
  await waitFor("every cell to run a fresh generation", async () => {
    const s = await m.status();
    const now = workerdPids(s);
    if (now.length < before.length || now.some((p) => before.includes(p))) return undefined;
    const up = await Promise.all((s.workerd.cells ?? []).map((c) => m.http.request(`${c.url}/_gridiron/health`, { timeoutMs: 1000 }).then((r) => r.status === 200, () => false)));
    return up.every(Boolean) ? true : undefined;
  }, 60_000);
  const restartMs = performance.now() - t0;
  for (const s of warm) {
    for (let i = 0; i < 5; i++) if ((await greet(m, s)).ok && i >= 1) break;
  }
  return restartMs;
}

async function nodeAlternative(m: BenchMesh, n: number, root: string, cleanup: Cleanup): Promise<NodeAlternative> {
  const script = fileURLToPath(new URL("./density-node.mjs", import.meta.url));
  const logFile = path.join(root, "density-node.log");
  const procs: { pid: number; port: number; service: string; exited: Promise<void>; child: ReturnType<typeof spawn> }[] = [];
  const starts: number[] = [];
  const admin = new RestateAdmin(m.adminUrl);
  try {
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      const service = `DensityNode${n}x${i}`;
      const fd = openSync(logFile, "a");
      const t0 = performance.now();
      const child = spawn(process.execPath, [script, String(port), service], { stdio: ["ignore", fd, fd], env: { ...process.env, RESTATE_LOGGING: "WARN" } });
      closeSync(fd);
      cleanup.trackPid(child.pid!);
      procs.push({ pid: child.pid!, port, service, child, exited: new Promise((res) => child.once("exit", () => res())) });
      await waitFor(`node process ${service} to listen`, async () => (await m.http.request(`http://127.0.0.1:${port}/discover`, { timeoutMs: 1000 }).then(() => true, () => undefined)), 30_000);
      starts.push(performance.now() - t0);
      await admin.register({ uri: `http://127.0.0.1:${port}/`, force: true });
    }
    const pids = procs.map((p) => p.pid);
    const rest = await totalMemory(pids);
    const first: number[] = [];
    for (const p of procs) {
      const r = await waitFor(`${p.service} to answer through ingress`, async () => {
        const x = await greet(m, p.service);
        return x.ok ? x : undefined;
      }, 30_000);
      first.push(r.ms);
    }
    return { processes: n, startMs: Math.round(percentile(starts, 50)), rest, afterCalls: await totalMemory(pids), firstCall: stats(first) };
  } finally {
    admin.close();
    for (const p of procs) {
      p.child.kill("SIGTERM");
      const timer = setTimeout(() => p.child.kill("SIGKILL"), 5000);
      await p.exited;
      clearTimeout(timer);
      cleanup.untrackPid(p.pid);
    }
  }
}

// The daemon's default --cells: workerd alone is measured in the shape of a default node.
const NODE_CELLS = 4;

export async function measureDensity(root: string, cleanup: Cleanup, o: DensityOptions): Promise<DensityResult> {
  const out: DensityResult = { bundle: "", steps: [], skipped: [], node: [], notes: [], loadedMax: o.loadedMax };
  const built = await buildService("greeter", path.join(root, "density-template"), { fetchAdapter: o.fetchAdapter });
  const files = await readdir(built.dir);
  out.bundle = `the greeter (${files.filter((f) => f !== "index.js.map").join(", ")}), one copy per version, each declaring its own Restate service`;
  if (o.parts.includes("mesh")) await throughRestate(root, cleanup, o, built.dir, out);
  if (o.parts.includes("direct")) out.direct = await measureDensityDirect(root, cleanup, { sizes: o.sizes, cells: NODE_CELLS, loadedMax: o.loadedMax, v8Flags: o.v8Flags, template: built.dir, log: o.log });
  return out;
}

async function throughRestate(root: string, cleanup: Cleanup, o: DensityOptions, template: string, out: DensityResult): Promise<void> {
  await mkdir(meshDirs(root, "density").bundlesDir, { recursive: true });
  // The cells' memory limit (1024 MB by default) is lifted: this section measures what versions
  // cost, and a watchdog kill in the middle would measure a restart instead (see the notes).
  const env: Record<string, string> = { GRIDIRON_CELL_MEMORY_MB: "65536", GRIDIRON_CELL_MEMORY_MB_MAX: "65536" };
  if (o.loadedMax !== undefined) env.GRIDIRON_WORKERD_LOADED_MAX = String(o.loadedMax);
  const m = await startBenchMesh(root, "density", cleanup, env);
  try {
    await waitFor("a clean reconcile pass", async () => ((await reconcile(m).catch(() => undefined)) ? true : undefined), 60_000);
    for (const n of o.nodeProcesses) {
      const r = await nodeAlternative(m, n, root, cleanup);
      out.node.push(r);
      o.log(`  node: ${n} process(es), RSS ${Math.round(r.rest.rssMb)} MB at rest, ${Math.round(r.afterCalls.rssMb)} MB after a call to each; start-up ${r.startMs} ms; first call p50 ${r.firstCall.p50} ms`);
    }
    let count = 0;
    let perVersionMs = 0;
    for (const size of o.sizes) {
      const add = size - count;
      if (add > 0 && perVersionMs > 0 && add * perVersionMs > o.growBudgetMs) {
        o.log(`  ${size} versions: skipped (adding ${add} at ~${Math.round(perVersionMs)} ms each is over the ${o.growBudgetMs / 1000} s budget)`);
        out.skipped.push(size);
        continue;
      }
      const t0 = performance.now();
      for (let i = count; i < size; i++) await writeDensityBundle(template, m.bundlesDir, i + 1);
      await reconcile(m);
      await settle(m.log, 500, 600_000);
      const wallMs = performance.now() - t0;
      perVersionMs = add > 0 ? wallMs / add : perVersionMs;
      count = size;
      const status = await m.status();
      const live = status.services.filter((s) => s.service.startsWith("dens-")).reduce((n, s) => n + s.versions.length, 0);
      const services = Array.from({ length: size }, (_, i) => densityService(i + 1));
      const rest = await totalMemory(workerdPids(status));
      const swept = await sweep(m, services, o.concurrency);
      const afterCalls = await totalMemory(workerdPids(await m.status()));
      const step: DensityStep = { versions: live, grow: { added: add, wallMs, perVersionMs }, rest, afterCalls, calls: { ...stats(swept.ms), failed: swept.failed } };
      // One version per cell warms Restate's connections after the kill; the sample is the rest.
      const cells = (await m.status()).workerd.cells ?? [];
      const warm = cells.flatMap((c) => {
        const key = c.versions.find((v) => v.startsWith("dens-"));
        return key ? [densityService(Number(key.slice("dens-".length, key.indexOf("/"))))] : [];
      });
      const pool = services.filter((s) => !warm.includes(s));
      if (pool.length > 0) {
        const restartMs = await freshGenerations(m, warm);
        const every = Math.max(1, Math.floor(pool.length / o.coldSamples));
        const sample = pool.filter((_, i) => i % every === 0).slice(0, o.coldSamples);
        // Other work on the machine decides much of the p99: measured with it, so the report can say.
        const cpuDone = await measureCpu(meshRoles(m.dataDir));
        const cold = await sweep(m, sample, 1);
        const { foreign } = await cpuDone();
        const afterMem = await totalMemory(workerdPids(await m.status()));
        step.cold = { samples: sample.length, ...stats(cold.ms), max: Math.round(Math.max(...cold.ms)), failed: cold.failed, restartMs: Math.round(restartMs), afterMem, foreign };
      }
      out.steps.push(step);
      o.log(`  ${live} versions (added ${add} in ${(wallMs / 1000).toFixed(1)} s): workerd ${rest.each.length} process(es) ${Math.round(rest.rssMb)} MB RSS at rest, ${Math.round(afterCalls.rssMb)} MB after a call to each (p50 ${step.calls.p50} ms, ${swept.failed} failed)` +
        (step.cold ? `; cold first call p50 ${step.cold.p50} / p99 ${step.cold.p99} ms over ${step.cold.samples}` : ""));
      if (afterCalls.each.some((mb) => mb > 1024)) out.notes.push(`${live} versions: a cell held ${Math.max(...afterCalls.each)} MB, over the default --cell-memory-mb 1024: with the default, the watchdog would have replaced it`);
    }
  } finally {
    await m.stop();
  }
}
