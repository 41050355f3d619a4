// Section 5, cells: what isolation costs and what it buys, measured in one run.
// Cost: the same demo services on one workerd process (--cells 1) and on cells (--cells 4): idle
// RSS of every workerd process, and Greeter throughput through Restate. Benefit: on the cells
// mesh, a handler that never yields (test/fixtures/services/poison) is invoked again and again
// beside steady Greeter load: failed calls and p99 against the same load without it, how soon the
// hung cell is replaced, and how soon the spinning invocation ends paused.
import path from "node:path";
import { buildService, type FetchAdapter } from "../../reconciler/build/service.ts";
import { REPO } from "../../test/helpers/mesh.ts";
import type { Cleanup } from "./cleanup.ts";
import { failed } from "./deploys.ts";
import { runLoad, startLoad, type LoadResult } from "./load.ts";
import { meshDirs, rssMb, startBenchMesh, waitFor, type BenchMesh } from "./mesh.ts";

export interface CellsCost {
  cells: number;
  /** workerd processes running with the demo services deployed. */
  processes: number;
  /** Idle RSS of each workerd process, MB. */
  rssMb: number[];
  totalRssMb: number;
  greet: Pick<LoadResult, "rps" | "p50" | "p99" | "requests"> & { failed: number };
}

export interface PoisonRun {
  hangMs: number;
  steady: Pick<LoadResult, "rps" | "p50" | "p99" | "requests"> & { failed: number };
  withPoison: Pick<LoadResult, "rps" | "p50" | "p99" | "requests"> & { failed: number; samples: LoadResult["samples"] };
  spins: number;
  /** From the first spin until its cell answered its health route again (null: not within the run). */
  replacedMs: number | null;
  /** From the first spin until Restate showed it paused (null: not within the wait). */
  pausedMs: number | null;
}

export interface CellsResult {
  cost: CellsCost[];
  poison?: PoisonRun;
}

export interface CellsOptions {
  connections: number;
  durationS: number;
  /** Requests per second of the steady load in the poison run. */
  rate: number;
  hangMs: number;
  pauseWaitMs: number;
  fetchAdapter: FetchAdapter;
  log: (line: string) => void;
}

const summary = (r: LoadResult) => ({ rps: r.rps, p50: r.p50, p99: r.p99, requests: r.requests, failed: failed(r) });

async function workerdPids(m: BenchMesh): Promise<number[]> {
  const s = await m.status();
  const cells = s.workerd.cells ?? [];
  return cells.length ? cells.flatMap((c) => (c.pid === undefined ? [] : [c.pid])) : s.workerd.pid === undefined ? [] : [s.workerd.pid];
}

const greetLoad = (m: BenchMesh, o: Pick<CellsOptions, "connections">, durationS: number, rate?: number) => ({
  url: m.ingressUrl, path: () => "/Greeter/greet", body: '"bench"', connections: o.connections, durationS, timeoutS: 10,
  ...(rate ? { rate } : {}),
  verify: (b: string) => b.includes("Hello"),
});

export async function measureCells(root: string, cleanup: Cleanup, o: CellsOptions): Promise<CellsResult> {
  const out: CellsResult = { cost: [] };
  for (const cells of [1, 4]) {
    const name = `cells-${cells}`;
    const { bundlesDir } = meshDirs(root, name);
    await buildService("greeter", bundlesDir, { fetchAdapter: o.fetchAdapter });
    await buildService("counter", bundlesDir, { fetchAdapter: o.fetchAdapter });
    if (cells > 1) await buildService("poison", bundlesDir, { servicesDir: path.join(REPO, "test/fixtures/services"), fetchAdapter: o.fetchAdapter });
    const m = await startBenchMesh(root, name, cleanup, { GRIDIRON_CELLS: String(cells), GRIDIRON_LANES: "0", GRIDIRON_CELL_HANG_MS: String(o.hangMs) });
    try {
      await waitFor("the demo services to answer", async () => {
        const [g, c] = await Promise.all([m.call("/Greeter/greet", "x"), m.call("/Counter/warmup/get")]);
        return g.status === 200 && c.status === 200 ? true : undefined;
      }, 60_000);
      const pids = await workerdPids(m);
      const rss = (await Promise.all(pids.map(rssMb))).map((x) => Math.round(x ?? 0));
      const greet = await runLoad(greetLoad(m, o, o.durationS));
      const cost: CellsCost = { cells, processes: pids.length, rssMb: rss, totalRssMb: rss.reduce((a, b) => a + b, 0), greet: summary(greet) };
      out.cost.push(cost);
      o.log(`  --cells ${cells}: ${pids.length} workerd process(es), idle RSS ${rss.join(" + ")} MB; greet ${Math.round(greet.rps)}/s p99 ${greet.p99} ms, ${failed(greet)} failed`);
      if (cells > 1) out.poison = await poisonRun(m, o);
    } finally {
      await m.stop();
    }
  }
  return out;
}

async function poisonRun(m: BenchMesh, o: CellsOptions): Promise<PoisonRun> {
  const steady = await runLoad(greetLoad(m, o, o.durationS, o.rate));
  const spinCell = (await m.status()).workerd.cells?.find((c) => c.versions.some((k) => k.startsWith("poison/")))?.url;
  const load = startLoad(greetLoad(m, o, o.durationS, o.rate));
  const t0 = Date.now();
  let spins = 0;
  let firstId: string | undefined;
  let replacedMs: number | null = null;
  let hungSeen = false;
  const until = t0 + o.durationS * 1000;
  let nextSpin = t0;
  while (Date.now() < until) {
    if (Date.now() >= nextSpin) {
      const r = await m.call("/Poison/spin/send");
      spins++;
      firstId ??= (JSON.parse(r.text) as { invocationId?: string }).invocationId;
      nextSpin = Date.now() + 2000;
    }
    if (spinCell && replacedMs === null) {
      const up = await m.http.request(`${spinCell}/_gridiron/health`, { timeoutMs: 250 }).then((r) => r.status === 200, () => false);
      if (!up) hungSeen = true;
      else if (hungSeen) replacedMs = Date.now() - t0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const withPoison = await load.done;
  let pausedMs: number | null = null;
  if (firstId) {
    const deadline = t0 + o.pauseWaitMs;
    while (Date.now() < deadline) {
      const r = await m.http.request(`${m.adminUrl}/query`, {
        method: "POST", headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query: `SELECT status FROM sys_invocation_status WHERE id = '${firstId}'` }),
      });
      const status = (JSON.parse(r.text) as { rows?: { status?: string }[] }).rows?.[0]?.status;
      if (status === "paused") {
        pausedMs = Date.now() - t0;
        break;
      }
      await new Promise((res) => setTimeout(res, 500));
    }
    // Leave nothing spinning behind for the next section.
    await m.http.request(`${m.adminUrl}/invocations/${firstId}/kill`, { method: "PATCH" }).catch(() => undefined);
  }
  const run: PoisonRun = { hangMs: o.hangMs, steady: summary(steady), withPoison: { ...summary(withPoison), samples: withPoison.samples }, spins, replacedMs, pausedMs };
  o.log(`  steady greet ${Math.round(steady.rps)}/s p99 ${steady.p99} ms; with ${spins} spins: p99 ${withPoison.p99} ms, ${failed(withPoison)} failed; ` +
    `hung cell back after ${replacedMs ?? "-"} ms (hang limit ${o.hangMs} ms); first spin paused after ${pausedMs ?? "-"} ms`);
  return run;
}
