// Sections 2 and 3: deploy latency (one deploy at a time from an idle mesh) and deploys under a
// steady client load (back-to-back deploys while Greeter.greet is called at a fixed rate),
// against the same load without deploys.
import { performance } from "node:perf_hooks";
import { explain, type DeployTiming, type GreeterDeployer } from "./deploy.ts";
import { measureCpu, waitQuiet, type CpuUse, type RoleOf } from "./cpu.ts";
import { startLoad, runLoad, type LoadResult, type LoadSpec } from "./load.ts";
import { rssMb, settle, type BenchMesh } from "./mesh.ts";

export interface DeployLatencyResult {
  deploys: DeployTiming[];
  /** workerd RSS (MB) after the last deploy. */
  workerdRssMb?: number;
}

export async function measureDeployLatency(mesh: BenchMesh, deployer: GreeterDeployer, o: { deploys: number; log: (l: string) => void }): Promise<DeployLatencyResult> {
  const deploys: DeployTiming[] = [];
  for (let i = 0; i < o.deploys; i++) {
    await settle(mesh.log);
    const d = await deployer.deploy("Lat");
    deploys.push(d);
  }
  await settle(mesh.log);
  await explain(mesh.log, deploys);
  for (const d of deploys) o.log(`  deploy ${d.n}: ${Math.round(d.totalMs)} ms (${d.liveVersions ?? "?"} versions live, pass trigger ${d.trigger ?? "?"}) ${fmtBreakdown(d)}`);
  const pid = (await mesh.status()).workerd.pid;
  const workerdRssMb = pid ? await rssMb(pid) : undefined;
  return { deploys, ...(workerdRssMb !== undefined ? { workerdRssMb } : {}) };
}

export function fmtBreakdown(d: DeployTiming): string {
  const b = d.breakdown;
  if (!b) return "";
  return Object.entries(b).map(([k, v]) => `${k} ${Math.round(v)}`).join(", ");
}

export interface UnderLoadResult {
  rate: number;
  connections: number;
  steady: LoadResult;
  during: LoadResult & { deploys: DeployTiming[]; windowMs: number };
  /** restate-server warnings/errors logged in each window (e.g. invocation attempts that failed and were retried). */
  restateWarnings: { steady: number; during: number; samples: string[] };
  /** workerd generations that exited without being asked to during the deploy window. */
  workerdCrashes: number;
  /**
   * Machine CPU in each window. During deploys the workerd generations come and go, so their
   * share is missing from `roles` and shows up in `foreign`; compare `total`.
   */
  cpu: { steady: CpuUse; during: CpuUse };
}

export async function measureDeploysUnderLoad(
  mesh: BenchMesh,
  deployer: GreeterDeployer,
  o: { deploys: number; rate: number; connections: number; steadyS: number; roles: RoleOf; quietMaxMs: number; log: (l: string) => void },
): Promise<UnderLoadResult> {
  const spec: Omit<LoadSpec, "durationS"> = {
    url: mesh.ingressUrl,
    path: () => "/Greeter/greet",
    body: '"load"',
    connections: o.connections,
    rate: o.rate,
    verify: (b) => /^"[A-Za-z0-9]+, load! Greetings from Gridiron/.test(b),
  };
  await settle(mesh.log);
  if (o.quietMaxMs > 0) await waitQuiet(o.roles, { maxMs: o.quietMaxMs });
  const steadyFrom = Date.now();
  const steadyCpuDone = await measureCpu(o.roles);
  const steady = await runLoad({ ...spec, durationS: o.steadyS });
  const steadyCpu = await steadyCpuDone();
  const steadyTo = Date.now();
  o.log(`  steady ${o.steadyS} s at ${o.rate} req/s: ${steady.requests} calls, failed ${failed(steady)}, p99 ${steady.p99} ms`);

  await settle(mesh.log);
  if (o.quietMaxMs > 0) await waitQuiet(o.roles, { maxMs: o.quietMaxMs });
  const duringFrom = Date.now();
  const duringCpuDone = await measureCpu(o.roles);
  const load = startLoad({ ...spec, durationS: 3600 });
  // Let the load reach its rate before the first deploy.
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = performance.now();
  const deploys: DeployTiming[] = [];
  let failure: unknown;
  try {
    for (let i = 0; i < o.deploys; i++) deploys.push(await deployer.deploy("Load"));
    // The last handover's old generation drains after the swap; keep calling through it.
    await settle(mesh.log);
    await new Promise((r) => setTimeout(r, 1000));
  } catch (err) {
    failure = err;
  }
  const during = await load.stop();
  const duringCpu = await duringCpuDone();
  if (failure) throw failure;
  const windowMs = performance.now() - t0;
  const duringTo = Date.now();
  await explain(mesh.log, deploys);
  o.log(`  ${o.deploys} back-to-back deploys in ${(windowMs / 1000).toFixed(1)} s under ${o.rate} req/s: ${during.requests} calls, failed ${failed(during)}, p99 ${during.p99} ms`);
  for (const s of during.samples) o.log(`    failure at +${s.at - duringFrom} ms: ${s.what}`);

  const events = await mesh.log.events(steadyFrom);
  const restateIn = (from: number, to: number) => events.filter((e) => e.component === "restate-server" && e.level >= 40 && e.time >= from && e.time <= to);
  const duringWarn = restateIn(duringFrom, duringTo);
  const workerdCrashes = events.filter((e) => e.time >= duringFrom && e.time <= duringTo && e.msg === "workerd crashed").length;
  return {
    rate: o.rate,
    connections: o.connections,
    steady,
    during: { ...during, deploys, windowMs },
    restateWarnings: { steady: restateIn(steadyFrom, steadyTo).length, during: duringWarn.length, samples: [...new Set(duringWarn.map((e) => e.msg))].slice(0, 5) },
    workerdCrashes,
    cpu: { steady: steadyCpu, during: duringCpu },
  };
}

export const failed = (r: LoadResult): number => r.errors + r.non2xx + r.mismatches;
