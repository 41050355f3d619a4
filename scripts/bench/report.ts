// Turns the measured results into the printed table and the targets of issue 6 (PASS/MISS).
// A benchmark reports; a miss never changes the exit code.
import type { RampResult } from "./ramp.ts";
import { renderHop, type HopResult } from "./hop.ts";
import type { CellsResult } from "./cells.ts";
import { NOISY_CORES, type CpuUse } from "./cpu.ts";
import type { DeployTiming } from "./deploy.ts";
import type { UnderLoadResult, DeployLatencyResult } from "./deploys.ts";
import { failed } from "./deploys.ts";
import type { EndpointRun } from "./endpoint.ts";
import type { InvocationCase } from "./invocations.ts";
import type { LoadResult } from "./load.ts";
import type { ProcessMemory } from "./memory.ts";
import type { DensityResult } from "./density.ts";
import { densityTargets, renderDensity } from "./density-report.ts";
import type { SizeResult } from "./reconcile-cost.ts";
import { mean, median, percentile } from "./stats.ts";

export interface BenchResults {
  startedAt: string;
  finishedAt?: string;
  profile: Record<string, unknown>;
  machine: { cpus: number; cpuModel: string; memGb: number; node: string; platform: string };
  git: { commit: string; dirty: boolean };
  invocations?: {
    connections: number; durationS: number; warmupS: number; rounds: number; keys: number; quietMaxMs: number; peer: string; cases: InvocationCase[];
    /** Every workerd process (cell) and the node peer, before the measured runs and after all of them. */
    memory?: Record<"before" | "after", Record<"workerd" | "node", ProcessMemory & { each: number[] }>>;
  };
  density?: DensityResult;
  endpoints?: EndpointRun[];
  deployLatency?: DeployLatencyResult;
  deploysUnderLoad?: UnderLoadResult;
  reconcileCost?: { bundle: string; sizes: SizeResult[]; skipped: number[] };
  cells?: CellsResult;
  ramp?: RampResult;
  hop?: HopResult;
  targets: TargetCheck[];
  notes: string[];
  errors: { section: string; message: string }[];
  /** Wall time of each section, s. */
  sectionSeconds: Record<string, number>;
}

export interface TargetCheck {
  name: string;
  target: string;
  value: string;
  pass: boolean;
  /** Other processes took more than 0.3 cores during a run behind this figure: the verdict may flip on a rerun. */
  noisy?: boolean;
}


// Issue 16 asks for parity with the Node SDK endpoint; issue 6 had asked for 1.2x and ended
// blocked on workerd's own cost per request (docs/performance.md).
const THROUGHPUT_MIN = 1.0;
const THROUGHPUT_TARGET = "≥ 1.00x";

/** Mean over rounds of the figures that are averaged. */
export function meanLoad(runs: LoadResult[]): { rps: number; p50: number; p99: number; failed: number } {
  return {
    rps: mean(runs.map((r) => r.rps)),
    p50: mean(runs.map((r) => r.p50)),
    p99: mean(runs.map((r) => r.p99)),
    failed: runs.reduce((n, r) => n + failed(r), 0),
  };
}

export function checkTargets(r: BenchResults): TargetCheck[] {
  const out: TargetCheck[] = [];
  const p = r.cells?.poison;
  if (p) {
    out.push({ name: "cells: failed demo calls beside a spinning handler", target: "0", value: String(p.withPoison.failed), pass: p.withPoison.failed === 0 });
    const ratio = p.withPoison.p99 / Math.max(1, p.steady.p99);
    out.push({ name: "cells: demo p99 beside a spinning handler / steady", target: "≤ 3x", value: `${ratio.toFixed(2)}x`, pass: ratio <= 3 });
    out.push({ name: "cells: hung cell replaced", target: `≤ ${2 * p.hangMs} ms`, value: p.replacedMs === null ? "not seen" : `${p.replacedMs} ms`, pass: p.replacedMs !== null && p.replacedMs <= 2 * p.hangMs });
    out.push({ name: "cells: spinning invocation paused", target: "≤ 60 s", value: p.pausedMs === null ? "not paused" : `${(p.pausedMs / 1000).toFixed(1)} s`, pass: p.pausedMs !== null && p.pausedMs <= 60_000 });
  }
  const mem = r.invocations?.memory?.after;
  if (mem && mem.node.rssMb > 0) {
    const ratio = mem.workerd.rssMb / mem.node.rssMb;
    out.push({ name: "workerd RSS after the invocation runs / node peer's", target: "≤ 1.50x", value: `${ratio.toFixed(2)}x (${Math.round(mem.workerd.rssMb)} / ${Math.round(mem.node.rssMb)} MB)`, pass: ratio <= 1.5 });
  }
  if (r.density) out.push(...densityTargets(r.density));
  if (r.ramp) {
    // Measured against a twin under the same load at the same time: other load hits both alike.
    out.push({ name: "ramp: cell CPU per call, 50% ramp / plain (vs a twin)", target: "≤ 1.10x", value: `${r.ramp.rampCost.toFixed(3)}x`, pass: r.ramp.rampCost <= 1.1 });
  }
  for (const c of r.invocations?.cases ?? []) {
    const g = meanLoad(c.gridiron);
    const n = meanLoad(c.node);
    const ratio = g.rps / n.rps;
    const noisy = [...(c.cpu?.gridiron ?? []), ...(c.cpu?.node ?? [])].some((u) => u.foreign > NOISY_CORES);
    out.push({ name: `throughput ${label(c.name)} gridiron/node`, target: THROUGHPUT_TARGET, value: `${ratio.toFixed(2)}x${roundSpread(c)}`, pass: ratio >= THROUGHPUT_MIN, noisy });
    const cap = capacityRatio(c);
    if (cap !== undefined) out.push({ name: `  same, from CPU per call (foreign load removed)`, target: THROUGHPUT_TARGET, value: `${cap.toFixed(2)}x${roundSpread(c, true)}`, pass: cap >= THROUGHPUT_MIN, noisy });
  }
  if (r.deployLatency && r.deployLatency.deploys.length > 0) {
    const ms = r.deployLatency.deploys.map((d) => d.totalMs);
    const p50 = percentile(ms, 50);
    const p99 = percentile(ms, 99);
    out.push({ name: "deploy latency p50", target: "≤ 500 ms", value: `${Math.round(p50)} ms`, pass: p50 <= 500 });
    out.push({ name: "deploy latency p99", target: "≤ 1500 ms", value: `${Math.round(p99)} ms`, pass: p99 <= 1500 });
  }
  if (r.deploysUnderLoad) {
    const f = failed(r.deploysUnderLoad.during);
    out.push({ name: "failed calls during deploys", target: "0", value: String(f), pass: f === 0 });
  }
  const sizes = r.reconcileCost?.sizes ?? [];
  const biggest = sizes.at(-1);
  if (biggest) {
    const noop = median(biggest.noop.durationMs);
    const at500 = biggest.size >= 500;
    out.push({
      name: `no-op reconcile at ${biggest.versions} versions${at500 ? "" : " (500 not reached)"}`,
      target: "≤ 50 ms at 500",
      value: `${Math.round(noop)} ms`,
      pass: at500 && noop <= 50,
    });
  }
  return out;
}

function connsPer1k(c: InvocationCase, side: "gridiron" | "node"): string {
  const runs = c.conns?.[side] ?? [];
  const calls = c[side].reduce((n, r) => n + r.requests, 0);
  if (runs.length === 0 || calls === 0) return "-";
  const closed = runs.reduce((n, x) => n + x.closed, 0);
  return `${((closed * 1000) / calls).toFixed(0)} (${Math.round(mean(runs.map((x) => x.established)))})`;
}

/** Generation start-up against the number of versions it had to load, first and last deploy. */
function trend(d: DeployTiming[]): string {
  const a = d.find((x) => x.breakdown?.handover !== undefined);
  const b = [...d].reverse().find((x) => x.breakdown?.handover !== undefined);
  if (!a || !b) return "";
  return `workerd serve step (live-set update in loader mode, generation start-up in static): ${ms(a.breakdown!.handover)} ms with ${a.liveVersions} versions → ${ms(b.breakdown!.handover)} ms with ${b.liveVersions}`;
}

function triggers(d: DeployTiming[]): string {
  const counts = new Map<string, number>();
  for (const x of d) counts.set(x.trigger ?? "?", (counts.get(x.trigger ?? "?") ?? 0) + 1);
  return [...counts].map(([t, n]) => `${t} ×${n}`).join(", ");
}

/**
 * " (rounds 0.91–1.08x)": the spread of the per-round ratios (each round runs both sides back to
 * back), by req/s or (cpu) by CPU per call.
 */
function roundSpread(c: InvocationCase, cpu = false): string {
  const n = Math.min(c.gridiron.length, c.node.length, cpu ? Math.min(c.cpu?.gridiron.length ?? 0, c.cpu?.node.length ?? 0) : Infinity);
  if (n < 2) return "";
  const perCall = (side: "gridiron" | "node", i: number) => (c.cpu[side][i]!.total - c.cpu[side][i]!.foreign) / c[side][i]!.rps;
  const ratios = Array.from({ length: n }, (_, i) => (cpu ? perCall("node", i) / perCall("gridiron", i) : c.gridiron[i]!.rps / c.node[i]!.rps));
  return ` (rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}x)`;
}

/** Node's CPU per call (all our processes) over Gridiron's: the throughput ratio on a CPU-bound machine with no foreign load. */
export function capacityRatio(c: InvocationCase): number | undefined {
  const perCall = (side: "gridiron" | "node") => {
    const runs = c.cpu?.[side] ?? [];
    const reqs = meanLoad(c[side]).rps;
    return runs.length && reqs > 0 ? mean(runs.map((u) => u.total - u.foreign)) / reqs : undefined;
  };
  const g = perCall("gridiron");
  const n = perCall("node");
  return g && n ? n / g : undefined;
}

const label = (h: string): string => (h === "greet" ? "Greeter.greet" : "Counter.add");
const ms = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? "-" : `${Math.round(v)}`);

/** First column (and any in `left`) left-aligned, the figures right-aligned. */
function table(header: string[], rows: string[][], left: number[] = []): string {
  const indent = "  ";
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => indent + cells.map((c, i) => (i === 0 || left.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), indent + widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function renderReport(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`Gridiron benchmark  ${r.startedAt}  profile ${String(r.profile.name)}  commit ${r.git.commit.slice(0, 10)}${r.git.dirty ? "+dirty" : ""}`);
  out.push(`machine: ${m.cpus} cores (${m.cpuModel}), ${m.memGb} GB, node ${m.node}`);

  if (r.invocations) {
    const i = r.invocations;
    out.push("");
    out.push(`1. Invocations through Restate ingress — autocannon, ${i.connections} connections, ${i.durationS} s × ${i.rounds} round(s) per side after ${i.warmupS} s warm-up`);
    out.push(`   peer: ${i.peer}`);
    out.push(`   request identity: ${String(r.profile.requestIdentity)}; SDK logging: ${String(r.profile.sdkLog)}`);
    out.push(`   each run waits up to ${i.quietMaxMs / 1000} s for the rest of the machine to use < 0.3 cores; Counter.add keys drawn from ${i.keys} fixed keys`);
    const rows = i.cases.map((c) => {
      const g = meanLoad(c.gridiron);
      const n = meanLoad(c.node);
      const ratio = g.rps / n.rps;
      const cap = capacityRatio(c);
      return [label(c.name), ms(g.rps), ms(g.p50), ms(g.p99), String(g.failed), ms(n.rps), ms(n.p50), ms(n.p99), String(n.failed), `${ratio.toFixed(2)}x`, `${(g.p99 / n.p99).toFixed(2)}x`, cap ? `${cap.toFixed(2)}x` : "-"];
    });
    out.push(table(["handler", "gridiron req/s", "p50 ms", "p99 ms", "failed", "node req/s", "p50 ms", "p99 ms", "failed", "req/s ratio", "p99 ratio", "CPU-capacity ratio"], rows));
    out.push("   (CPU-capacity ratio = node's CPU per call over gridiron's, all our processes counted: the req/s ratio this machine would");
    out.push("    show with nobody else on it; steadier than req/s when other processes take CPU)");
    // Where the CPU went: cores per process role, mean over rounds.
    const roleNames = ["workerd", "node peer", "restate-server", "gridiron daemon", "bench (autocannon)"];
    const cpuRows: string[][] = [];
    let noisy = 0;
    for (const c of i.cases) {
      for (const side of ["gridiron", "node"] as const) {
        const runs = c.cpu?.[side] ?? [];
        if (runs.length === 0) continue;
        const avg = (f: (u: CpuUse) => number) => mean(runs.map(f));
        noisy = Math.max(noisy, ...runs.map((u) => u.foreign));
        const reqs = meanLoad(c[side]).rps;
        const served = side === "gridiron" ? avg((u) => u.roles.workerd ?? 0) : avg((u) => u.roles["node peer"] ?? 0);
        cpuRows.push([
          `${label(c.name)} ${side}`,
          ...roleNames.map((r) => avg((u) => u.roles[r] ?? 0).toFixed(2)),
          avg((u) => u.foreign).toFixed(2),
          avg((u) => u.total).toFixed(2),
          reqs > 0 ? ((served * 1e6) / reqs).toFixed(0) : "-",
          reqs > 0 ? ((avg((u) => u.roles["restate-server"] ?? 0) * 1e6) / reqs).toFixed(0) : "-",
          reqs > 0 ? ((avg((u) => u.total - u.foreign) * 1e6) / reqs).toFixed(0) : "-",
          connsPer1k(c, side),
        ]);
      }
    }
    if (cpuRows.length) {
      out.push("   CPU, cores used per process during the measured runs (2 cores = the whole machine):");
      out.push(table(["", "workerd", "node peer", "restate", "gridiron daemon", "bench", "foreign", "machine", "endpoint µs/call", "restate µs/call", "all ours µs/call", "conns closed/1k calls (open)"], cpuRows));
      out.push("   (endpoint = workerd or the node peer; all ours = every process of this benchmark, i.e. machine minus foreign;");
      out.push("    conns closed: Restate→endpoint TCP connections closed during the run per 1000 calls, open ones at its end in brackets)");
      if (noisy > 0.2) out.push(`   WARNING: other processes on this machine used up to ${noisy.toFixed(2)} cores during a run; ratios are less trustworthy`);
    }
    const mem = i.memory;
    if (mem) {
      const row = (when: string, w: (typeof mem)["after"]) => [when, `${w.workerd.each.join(" + ")} = ${ms(w.workerd.rssMb)}`, ms(w.workerd.pssMb), ms(w.workerd.anonMb), ms(w.node.rssMb), ms(w.node.pssMb), ms(w.node.anonMb), `${(w.workerd.rssMb / w.node.rssMb).toFixed(2)}x`];
      out.push("   Memory, MB (workerd: every cell; PSS counts pages the cells share, such as workerd's binary, once; anon = heaps):");
      out.push(table(["", "workerd RSS", "PSS", "anon", "node peer RSS", "PSS", "anon", "RSS ratio"], [row("before the runs", mem.before), row("after the runs", mem.after)], [1]));
    }
  }
  if (r.endpoints?.length) {
    out.push("   Endpoint alone, no Restate: GET /discover and a greet invocation (a first attempt's request body) on a scratch workerd");
    out.push("   serving greeter (request identity off) and on the Node peer:");
    out.push(table(
      ["request", "server", "req/s", "p50 ms", "p99 ms", "failed", "server cores", "server µs CPU/req", "foreign"],
      r.endpoints.map((e) => [e.request ?? "discover", e.name, ms(e.load.rps), ms(e.load.p50), ms(e.load.p99), String(failed(e.load)), e.serverCores.toFixed(2), e.load.rps > 0 ? ms((e.serverCores * 1e6) / e.load.rps) : "-", e.cpu.foreign.toFixed(2)]),
      [1],
    ));
  }

  if (r.deployLatency && r.deployLatency.deploys.length > 0) {
    const d = r.deployLatency.deploys;
    const totals = d.map((x) => x.totalMs);
    out.push("");
    out.push(`2. Deploy latency — greeter bundle renamed into bundles/ → first answer by the new version through ingress (poll every 10 ms), n=${d.length}, one at a time from idle`);
    const keys = ["untilPass", "gather", "validate", "store", "swap", "handover", "register", "visible"] as const;
    const med = (k: (typeof keys)[number]) => median(d.map((x) => x.breakdown?.[k]).filter((v): v is number => typeof v === "number"));
    out.push(table(
      ["", "p50 ms", "p99 ms", "min", "max", "versions live", "workerd RSS MB"],
      [["total", ms(percentile(totals, 50)), ms(percentile(totals, 99)), ms(Math.min(...totals)), ms(Math.max(...totals)),
        `${d[0]?.liveVersions ?? "?"} → ${d.at(-1)?.liveVersions ?? "?"}`, ms(r.deployLatency.workerdRssMb)]],
    ));
    out.push(`   median per stage (ms): ${keys.map((k) => `${k} ${ms(med(k))}`).join(", ")}`);
    out.push("   (handover is the new workerd generation's start-up, part of swap; untilPass is the folder watcher's stability wait + debounce)");
    out.push(`   ${trend(d)}`);
    out.push(`   passes that picked the bundle up were started by: ${triggers(d)}`);
  }

  if (r.deploysUnderLoad) {
    const u = r.deploysUnderLoad;
    out.push("");
    out.push(`3. Deploys under load — Greeter.greet at ${u.rate} req/s over ${u.connections} connections; ${u.during.deploys.length} back-to-back deploys vs the same load without deploys`);
    const row = (name: string, l: LoadResult, warn: number) => [name, String(l.requests), String(failed(l)), String(l.errors), String(l.non2xx), ms(l.p50), ms(l.p99), ms(l.max), String(warn)];
    out.push(table(
      ["", "calls", "failed", "conn err", "non-2xx", "p50 ms", "p99 ms", "max ms", "restate warn"],
      [row(`steady (${Math.round(u.steady.seconds)} s)`, u.steady, u.restateWarnings.steady), row(`during deploys (${(u.during.windowMs / 1000).toFixed(0)} s)`, u.during, u.restateWarnings.during)],
    ));
    if (u.cpu) out.push(`   machine CPU: steady ${u.cpu.steady.total.toFixed(2)} cores (foreign ${u.cpu.steady.foreign.toFixed(2)}), during deploys ${u.cpu.during.total.toFixed(2)} cores`);
    if (u.cpu && u.cpu.steady.foreign > 0.3) out.push(`   WARNING: other processes used ${u.cpu.steady.foreign.toFixed(2)} cores during the steady window; its latencies are not a clean baseline`);
    out.push(`   ${trend(u.during.deploys)}`);
    const dl = u.during.deploys.map((x) => x.totalMs);
    out.push(`   deploy latency under load: p50 ${ms(percentile(dl, 50))} ms, p99 ${ms(percentile(dl, 99))} ms; versions live ${u.during.deploys[0]?.liveVersions ?? "?"} → ${u.during.deploys.at(-1)?.liveVersions ?? "?"}; workerd crashes ${u.workerdCrashes}`);
    for (const s of u.restateWarnings.samples) out.push(`   restate: ${s.slice(0, 160)}`);
  }

  if (r.reconcileCost) {
    const c = r.reconcileCost;
    out.push("");
    out.push(`4. Reconcile cost — ${c.bundle}; POST /reconcile (durationMs from the API, wall from the client), medians`);
    out.push(table(
      ["versions live", "no-op ms", "no-op wall", "1-change ms", "validate", "wd serve", "register", "workerd RSS MB", "add ms/version", "source cold", "source warm", "GET /deployments", "drain query", "store list cold"],
      c.sizes.map((s) => [
        String(s.versions), ms(median(s.noop.durationMs)), ms(median(s.noop.wallMs)), ms(median(s.oneChange.durationMs)),
        ms(median(s.oneChange.validateMs)), ms(median(s.oneChange.handoverMs)), ms(median(s.oneChange.registerMs)), ms(s.workerdRssMb),
        ms(s.grow.perVersionMs), ms(s.noopPieces.readSourceCold), ms(s.noopPieces.readSourceWarm), ms(s.noopPieces.listDeployments), ms(s.noopPieces.drainQuery), ms(s.noopPieces.listStoreCold),
      ]),
    ));
    out.push("   (source cold/warm: readDesired without / with its bundle cache; GET /deployments, drain query, store list: the other");
    out.push("    pieces of a pass's gather, timed from the bench process;");
    out.push("    wd serve: loader mode, the live-set update of the running workerd; static mode, a new generation with every live version, until it listens)");
    const fresh = c.sizes.filter((s) => s.freshGeneration);
    if (fresh.length) {
      out.push("   loader mode, a fresh generation with the whole live set (what a crash restart starts; versions load on first call):");
      out.push(table(["versions live", "start-up ms", "first call ms (cold load)", "second call ms"],
        fresh.map((s) => [String(s.versions), ms(s.freshGeneration!.startMs), ms(s.freshGeneration!.coldMs), s.freshGeneration!.warmMs.toFixed(1)])));
    }
    if (c.skipped.length) out.push(`   not reached within the time budget: ${c.skipped.join(", ")} versions`);
  }

  if (r.cells) {
    out.push("");
    out.push("5. Cells (demo services on one workerd process vs on cells; a spinning handler beside them)");
    out.push(table(["cells", "workerd processes", "idle RSS MB (each)", "total MB", "greet req/s", "p99 ms", "failed"],
      r.cells.cost.map((c) => [String(c.cells), String(c.processes), c.rssMb.join(" + "), String(c.totalRssMb), String(Math.round(c.greet.rps)), String(c.greet.p99), String(c.greet.failed)])));
    const p = r.cells.poison;
    if (p) {
      out.push(table(["greet at a fixed rate", "req/s", "p50 ms", "p99 ms", "failed"], [
        ["steady", String(Math.round(p.steady.rps)), String(p.steady.p50), String(p.steady.p99), String(p.steady.failed)],
        [`with ${p.spins} Poison/spin calls`, String(Math.round(p.withPoison.rps)), String(p.withPoison.p50), String(p.withPoison.p99), String(p.withPoison.failed)],
      ]));
      out.push(`   hung cell back after ${p.replacedMs ?? "-"} ms (--cell-hang-ms ${p.hangMs}); first spin paused after ${p.pausedMs ?? "-"} ms`);
    }
  }

  if (r.density) out.push("", ...renderDensity(r.density));
  if (r.hop) out.push("", ...renderHop(r.hop, table));

  if (r.targets.length) {
    out.push("");
    out.push("Targets (from the issues; reported, never enforced)");
    out.push(table(["", "target", "measured", ""], r.targets.map((t) => [t.name, t.target, t.value, `${t.pass ? "PASS" : "MISS"}${t.noisy ? " (noisy: other processes took CPU; rerun)" : ""}`]), [3]));
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  for (const e of r.errors) out.push(`ERROR in ${e.section}: ${e.message}`);
  return out.join("\n");
}
