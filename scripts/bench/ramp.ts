// Section 7, ramp: what a progressive rollout's routing costs per call. Greeter and a twin of it
// (the same bundle under the Restate name GreeterTwin, never ramped) run in cells of their own and
// take the same load at the same time, so whatever else the machine does hits both alike. Phases:
// plain v1, ramp v1→v2 (50%: the router picks a version by a hash of each invocation id,
// reconciler/workerd/router.js), plain v2 (promoted), ramp v2→v3, plain v3. Each phase gives
// Greeter's cell CPU per call over the twin's; the ramp's cost is that ratio in the ramp phases
// over the ratio in the plain phases (which also cancels any difference between the two cells).
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { buildService, type FetchAdapter } from "../../reconciler/build/service.ts";
import type { Cleanup } from "./cleanup.ts";
import { measureCpu, waitQuiet, type RoleOf } from "./cpu.ts";
import { copyTemplate } from "./deploy.ts";
import { failed } from "./deploys.ts";
import { runLoad, type LoadSpec } from "./load.ts";
import { meshDirs, startBenchMesh, waitFor, type BenchMesh } from "./mesh.ts";

export interface RampPhase {
  kind: "plain" | "ramp";
  /** GREETING of the Greeter versions serving: one for plain, old→new for a ramp. */
  versions: string;
  greeter: { ok: number; failed: number; rps: number; p99: number; cellUsPerCall: number; answeredBy: Record<string, number> };
  twin: { ok: number; failed: number; rps: number; p99: number; cellUsPerCall: number };
  /** Greeter's cell CPU per call over the twin's. */
  ratio: number;
  foreign: number;
}

export interface RampResult {
  phases: RampPhase[];
  /** Mean Greeter/twin ratio of the ramp phases over that of the plain phases. */
  rampCost: number;
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

export async function measureRamp(root: string, cleanup: Cleanup, o: RampOptions): Promise<RampResult> {
  const { bundlesDir } = meshDirs(root, "ramp");
  const template = (await buildService("greeter", path.join(root, "ramp-template"), { fetchAdapter: o.fetchAdapter })).dir;
  await mkdir(bundlesDir, { recursive: true });
  await writeTwin(template, bundlesDir);
  await writeGreeter(template, bundlesDir, "v1");
  // Lanes off: both services behind a router, so the ramp's cost is all that differs.
  const m = await startBenchMesh(root, "ramp", cleanup, { GRIDIRON_LANES: "0" });
  try {
    await waitFor("greeter v1 and its twin to answer", async () => {
      const [g, t] = await Promise.all([m.call("/Greeter/greet", "x"), m.call("/GreeterTwin/greet", "x")]);
      return g.text.includes("v1,") && t.status === 200 ? true : undefined;
    }, 60_000);
    const roles = await cellRoles(m);
    const phases: RampPhase[] = [];
    const phase = async (kind: RampPhase["kind"], versions: string) => {
      if (o.quietMaxMs > 0) await waitQuiet(roles, { maxMs: o.quietMaxMs });
      const answeredBy: Record<string, number> = {};
      const half = Math.max(1, Math.floor(o.connections / 2));
      const greeter: Omit<LoadSpec, "durationS"> = {
        url: m.ingressUrl, path: () => "/Greeter/greet", body: '"bench"', connections: half, timeoutS: 10,
        verify: (b) => {
          const g = /^"(v\d+), bench!/.exec(b)?.[1];
          if (g) answeredBy[g] = (answeredBy[g] ?? 0) + 1;
          return g !== undefined;
        },
      };
      const twin: Omit<LoadSpec, "durationS"> = { ...greeter, path: () => "/GreeterTwin/greet", verify: (b) => b.includes("bench!") };
      if (o.warmupS > 0) await Promise.all([runLoad({ ...greeter, durationS: o.warmupS }), runLoad({ ...twin, durationS: o.warmupS })]);
      for (const k of Object.keys(answeredBy)) delete answeredBy[k];
      const done = await measureCpu(roles);
      const [g, t] = await Promise.all([runLoad({ ...greeter, durationS: o.durationS }), runLoad({ ...twin, durationS: o.durationS })]);
      const cpu = await done();
      const us = (role: string, ok: number) => (ok > 0 ? Math.round(((cpu.roles[role] ?? 0) * cpu.seconds * 1e6) / ok) : 0);
      const gUs = us("greeter cell", g.ok);
      const tUs = us("twin cell", t.ok);
      const row: RampPhase = {
        kind, versions,
        greeter: { ok: g.ok, failed: failed(g), rps: Math.round(g.rps), p99: g.p99, cellUsPerCall: gUs, answeredBy },
        twin: { ok: t.ok, failed: failed(t), rps: Math.round(t.rps), p99: t.p99, cellUsPerCall: tUs },
        ratio: tUs > 0 ? Math.round((gUs / tUs) * 1000) / 1000 : 0,
        foreign: Math.round(cpu.foreign * 100) / 100,
      };
      phases.push(row);
      o.log(`  ${kind.padEnd(5)} ${versions.padEnd(7)} Greeter ${row.greeter.rps} req/s ${gUs} µs/call (answered by ${JSON.stringify(answeredBy)}), twin ${row.twin.rps} req/s ${tUs} µs/call: ratio ${row.ratio}; failed ${row.greeter.failed + row.twin.failed}; foreign ${row.foreign} cores`);
    };

    await phase("plain", "v1");
    for (const [from, to] of [["v1", "v2"], ["v2", "v3"]] as const) {
      await writeGreeter(template, bundlesDir, to);
      await waitFor(`the ${from}→${to} ramp to be latest`, async () => (rolloutOf(await rollouts(m))?.weight === 50 ? true : undefined), 60_000);
      await phase("ramp", `${from}→${to}`);
      const r = await m.http.request(`${m.apiUrl}/rollout`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ service: "greeter", action: "promote" }) });
      if (r.status !== 200) throw new Error(`promote answered ${r.status}: ${r.text}`);
      await waitFor(`${to} alone to answer`, async () => {
        if (rolloutOf(await rollouts(m))) return undefined;
        const answers = await Promise.all(Array.from({ length: 8 }, () => m.call("/Greeter/greet", "x")));
        return answers.every((a) => a.text.includes(`${to},`)) ? true : undefined;
      }, 60_000);
      await phase("plain", to);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const plain = mean(phases.filter((p) => p.kind === "plain").map((p) => p.ratio));
    const ramp = mean(phases.filter((p) => p.kind === "ramp").map((p) => p.ratio));
    return { phases, rampCost: plain > 0 ? Math.round((ramp / plain) * 1000) / 1000 : 0 };
  } finally {
    await m.stop();
  }
}

/** The two cells' workerd processes, by what they serve; everything else is foreign. */
async function cellRoles(m: BenchMesh): Promise<RoleOf> {
  const cells = (await m.status()).workerd.cells ?? [];
  const pidOf = (service: string) => cells.find((c) => c.versions.some((k) => k.startsWith(`${service}/`)))?.pid;
  const g = pidOf("greeter");
  const t = pidOf("greeter-twin");
  if (g === undefined || t === undefined || g === t) throw new Error(`greeter and its twin need cells of their own (cells: ${JSON.stringify(cells.map((c) => c.versions))})`);
  return async () => new Map([[g, "greeter cell"], [t, "twin cell"]]);
}

async function rollouts(m: BenchMesh): Promise<Record<string, { weight: number; decision?: string }>> {
  const r = await m.http.request(`${m.apiUrl}/rollout`);
  return (JSON.parse(r.text) as { rollouts: Record<string, { weight: number; decision?: string }> }).rollouts;
}

const rolloutOf = (all: Record<string, { weight: number; decision?: string }>) => {
  const g = all.greeter;
  return g && g.decision !== "done" && g.decision !== "aborted" ? g : undefined;
};

/** Fills a staging folder with `fill`, then swaps it in as bundle `name` with one rename. */
async function swapIn(bundlesDir: string, name: string, fill: (dir: string) => Promise<void>): Promise<void> {
  const tmp = path.join(bundlesDir, `.${name}-next`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await fill(tmp);
  const live = path.join(bundlesDir, name);
  const old = path.join(bundlesDir, `.${name}-old`);
  await rename(live, old).catch(() => undefined);
  await rename(tmp, live);
  await rm(old, { recursive: true, force: true });
}

/** The template greeter as a new version (GREETING = label) with the ramp policy. */
const writeGreeter = (template: string, bundlesDir: string, label: string) =>
  swapIn(bundlesDir, "greeter", (dir) => copyTemplate(template, dir, (m) => {
    m.vars = { ...m.vars, GREETING: label };
    m.rollout = POLICY;
  }));

/** The same bundle as Restate service GreeterTwin (its one `name: "Greeter"` renamed), never ramped. */
const writeTwin = (template: string, bundlesDir: string) =>
  swapIn(bundlesDir, "greeter-twin", async (dir) => {
    await copyTemplate(template, dir, (m) => {
      m.name = "greeter-twin";
      m.vars = { ...m.vars, GREETING: "twin" };
    });
    const main = path.join(dir, "index.js");
    const code = await readFile(main, "utf8");
    if (code.split('name: "Greeter",').length !== 2) throw new Error(`${main}: expected one 'name: "Greeter",' to rename for the twin`);
    await writeFile(main, code.replace('name: "Greeter",', 'name: "GreeterTwin",'));
  });
