// Section 7, ramp: what a progressive rollout's routing costs per call. The same Greeter load
// through Restate, alternately while the latest deployment is a plain version and while it is a
// 50% ramp (the router picks old or new by a hash of each invocation id, reconciler/workerd/
// router.js): plain v1, ramp v1→v2, plain v2 (promoted), ramp v2→v3, plain v3. CPU per successful
// call of workerd, and of the whole mesh, is compared between the ramp runs and the plain runs
// around them; the ramp runs also show the share of calls each version answered.
import { copyFile, mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { buildService, type FetchAdapter } from "../../reconciler/build/service.ts";
import type { Cleanup } from "./cleanup.ts";
import { measureCpu, meshRoles, waitQuiet, type CpuUse } from "./cpu.ts";
import { failed } from "./deploys.ts";
import { runLoad } from "./load.ts";
import { meshDirs, startBenchMesh, waitFor, type BenchMesh } from "./mesh.ts";

export interface RampRun {
  kind: "plain" | "ramp";
  /** GREETING of the versions serving: one for plain, old→new for a ramp. */
  versions: string;
  ok: number;
  failed: number;
  rps: number;
  p99: number;
  /** CPU microseconds per successful call. */
  workerdUsPerCall: number;
  meshUsPerCall: number;
  foreign: number;
  /** Successful calls answered by each greeting. */
  answeredBy: Record<string, number>;
}

export interface RampResult {
  runs: RampRun[];
  /** Mean CPU per call of the ramp runs over that of the plain runs (workerd alone, whole mesh). */
  workerdRatio: number;
  meshRatio: number;
}

export interface RampOptions {
  connections: number;
  durationS: number;
  warmupS: number;
  quietMaxMs: number;
  fetchAdapter: FetchAdapter;
  log: (line: string) => void;
}

// A step that stays at 50% for the whole section; the judge never aborts a healthy greeter.
const POLICY = { steps: [50, 100], stepSeconds: 3600, maxFailureRatio: 0.5, minInvocations: 1 };

const MESH_ROLES = ["workerd", "restate-server", "gridiron daemon", "gridiron launcher", "mesh other"];

export async function measureRamp(root: string, cleanup: Cleanup, o: RampOptions): Promise<RampResult> {
  const { bundlesDir } = meshDirs(root, "ramp");
  const template = (await buildService("greeter", path.join(root, "ramp-template"), { fetchAdapter: o.fetchAdapter })).dir;
  await mkdir(bundlesDir, { recursive: true });
  await writeGreeter(template, bundlesDir, "v1");
  const m = await startBenchMesh(root, "ramp", cleanup);
  try {
    await waitFor("greeter v1 to answer", async () => ((await m.call("/Greeter/greet", "x")).text.includes("v1,") ? true : undefined), 60_000);
    const roles = meshRoles(m.dataDir);
    const runs: RampRun[] = [];
    const run = async (kind: RampRun["kind"], versions: string) => {
      if (o.quietMaxMs > 0) await waitQuiet(roles, { maxMs: o.quietMaxMs });
      const answeredBy: Record<string, number> = {};
      const spec = {
        url: m.ingressUrl, path: () => "/Greeter/greet", body: '"bench"', connections: o.connections, timeoutS: 10,
        verify: (b: string) => {
          const g = /^"(v\d+), bench!/.exec(b)?.[1];
          if (g) answeredBy[g] = (answeredBy[g] ?? 0) + 1;
          return g !== undefined;
        },
      };
      if (o.warmupS > 0) await runLoad({ ...spec, durationS: o.warmupS });
      for (const k of Object.keys(answeredBy)) delete answeredBy[k];
      const done = await measureCpu(roles);
      const r = await runLoad({ ...spec, durationS: o.durationS });
      const cpu = await done();
      const us = (cores: number) => (r.ok > 0 ? Math.round((cores * cpu.seconds * 1e6) / r.ok) : 0);
      const row: RampRun = {
        kind, versions, ok: r.ok, failed: failed(r), rps: Math.round(r.rps), p99: r.p99,
        workerdUsPerCall: us(cpu.roles.workerd ?? 0), meshUsPerCall: us(meshCores(cpu)), foreign: Math.round(cpu.foreign * 100) / 100, answeredBy,
      };
      runs.push(row);
      o.log(`  ${kind.padEnd(5)} ${versions.padEnd(7)} ${row.rps} req/s, p99 ${row.p99} ms, failed ${row.failed}; CPU per call: workerd ${row.workerdUsPerCall} µs, mesh ${row.meshUsPerCall} µs; answered by ${JSON.stringify(answeredBy)}; foreign ${row.foreign} cores`);
    };

    await run("plain", "v1");
    for (const [from, to] of [["v1", "v2"], ["v2", "v3"]] as const) {
      await writeGreeter(template, bundlesDir, to);
      await waitFor(`the ${from}→${to} ramp to be latest`, async () => (rolloutOf(await rollouts(m))?.weight === 50 ? true : undefined), 60_000);
      await run("ramp", `${from}→${to}`);
      const r = await m.http.request(`${m.apiUrl}/rollout`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ service: "greeter", action: "promote" }) });
      if (r.status !== 200) throw new Error(`promote answered ${r.status}: ${r.text}`);
      await waitFor(`${to} alone to answer`, async () => {
        if (rolloutOf(await rollouts(m))) return undefined;
        const answers = await Promise.all(Array.from({ length: 8 }, () => m.call("/Greeter/greet", "x")));
        return answers.every((a) => a.text.includes(`${to},`)) ? true : undefined;
      }, 60_000);
      await run("plain", to);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const ratio = (pick: (r: RampRun) => number) => {
      const plain = mean(runs.filter((r) => r.kind === "plain").map(pick));
      return plain > 0 ? Math.round((mean(runs.filter((r) => r.kind === "ramp").map(pick)) / plain) * 1000) / 1000 : 0;
    };
    return { runs, workerdRatio: ratio((r) => r.workerdUsPerCall), meshRatio: ratio((r) => r.meshUsPerCall) };
  } finally {
    await m.stop();
  }
}

const meshCores = (c: CpuUse) => MESH_ROLES.reduce((a, k) => a + (c.roles[k] ?? 0), 0);

async function rollouts(m: BenchMesh): Promise<Record<string, { weight: number }>> {
  const r = await m.http.request(`${m.apiUrl}/rollout`);
  return (JSON.parse(r.text) as { rollouts: Record<string, { weight: number }> }).rollouts;
}

const rolloutOf = (all: Record<string, { weight: number; decision?: string }>) => {
  const g = all.greeter;
  return g && g.decision !== "done" && g.decision !== "aborted" ? g : undefined;
};

/** The template greeter as a new version (GREETING = label) with the ramp policy, swapped in atomically. */
async function writeGreeter(template: string, bundlesDir: string, label: string): Promise<void> {
  const tmp = path.join(bundlesDir, `.greeter-${label}`);
  await mkdir(tmp, { recursive: true });
  for (const f of await readdir(template)) if (f !== "gridiron.json") await copyFile(path.join(template, f), path.join(tmp, f));
  const manifest = JSON.parse(await readFile(path.join(template, "gridiron.json"), "utf8")) as Record<string, unknown> & { vars?: Record<string, string> };
  manifest.vars = { ...manifest.vars, GREETING: label };
  manifest.rollout = POLICY;
  await writeFile(path.join(tmp, "gridiron.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const live = path.join(bundlesDir, "greeter");
  const old = path.join(bundlesDir, `.greeter-old-${label}`);
  await rename(live, old).catch(() => undefined);
  await rename(tmp, live);
  await rm(old, { recursive: true, force: true });
}
