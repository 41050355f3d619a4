/**
 * A/B of V8 flag sets for workerd (build.ts V8_FLAGS), by hand: each set gets its own scratch
 * workerd (loader config, the router, request identity off), rounds alternate the order, and each
 * run reports workerd's CPU per request and its RSS after the run. Workloads: the greeter bundle
 * invoked directly (a first attempt's request body, 32 connections by default), or an
 * allocation-heavy plain worker (~200 kB of objects built and serialised per request, 8
 * connections by default) holding 0 or 50 MB of live objects.
 *
 *   node --import tsx scripts/bench/gc-flags.ts [--workload greeter|heavy0|heavy50] [--rounds 3] [--seconds 8] [--connections N]
 *        -- "--max-semi-space-size=32" "--max-semi-space-size=2,--initial-old-space-size=4" …
 */
import { cp, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { buildService } from "../../reconciler/build/service.ts";
import { readBundle } from "../../reconciler/source/bundle.ts";
import { buildLoaderConfig } from "../../reconciler/workerd/build.ts";
import { readRouterModules } from "../../reconciler/workerd/router-source.ts";
import { INVOCATION_CONTENT_TYPE, invocationRequestBody } from "../../test/helpers/restate-protocol.ts";
import { Cleanup } from "./cleanup.ts";
import { measureCpu, waitQuiet } from "./cpu.ts";
import { runLoad, type LoadSpec } from "./load.ts";
import { rssMb } from "./mesh.ts";
import { withScratchWorkerd } from "./scratch-workerd.ts";
import { median } from "./stats.ts";

const HEAVY = (liveMb: number) => `
const live = [];
for (let i = 0; i < ${liveMb} * 1024 * 1024 / 64; i++) live.push({ i, s: "x" + i });
export default {
  async fetch() {
    const rows = [];
    for (let i = 0; i < 2000; i++) rows.push({ id: i, name: "row" + i, tags: ["a", "b", String(i)], at: { n: i * 2 } });
    await null;
    return new Response(String(JSON.stringify(rows).length + live.length));
  },
};
`;

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { workload: { type: "string", default: "greeter" }, rounds: { type: "string", default: "3" }, seconds: { type: "string", default: "8" }, connections: { type: "string" } },
});
const sets = positionals.length ? positionals : ["--max-semi-space-size=32", "--max-semi-space-size=2,--initial-old-space-size=4"];
const cleanup = new Cleanup();
process.on("exit", () => cleanup.killTracked());
const root = await mkdtemp(path.join(os.tmpdir(), "gridiron-gc-flags-"));
try {
  let dir: string;
  if (values.workload === "greeter") {
    dir = (await buildService("greeter", path.join(root, "src"))).dir;
  } else {
    dir = path.join(root, "src", "heavy");
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, "index.js"), HEAVY(values.workload === "heavy50" ? 50 : 0));
    await writeFile(path.join(dir, "gridiron.json"), JSON.stringify({ name: "heavy", main: "index.js", compatibilityDate: "2026-11-01" }));
  }
  const b = await readBundle(dir);
  const versions = path.join(root, "versions");
  await cp(dir, path.join(versions, b.spec.service, b.spec.version, "bundle"), { recursive: true });
  const router = await readRouterModules();
  const base = `/${b.spec.service}/${b.spec.version}`;
  const request: Omit<LoadSpec, "url" | "durationS"> = values.workload === "greeter"
    ? {
      path: () => `${base}/invoke/Greeter/greet`, method: "POST", connections: Number(values.connections ?? 32), body: Buffer.from(invocationRequestBody("Ana")),
      headers: { "content-type": INVOCATION_CONTENT_TYPE, accept: INVOCATION_CONTENT_TYPE },
    }
    : { path: () => `${base}/x`, method: "GET", connections: Number(values.connections ?? 8) };
  const res = new Map<string, { us: number[]; rss: number[]; p99: number[] }>();
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const set of r % 2 === 0 ? sets : [...sets].reverse()) {
      const config = buildLoaderConfig([b.spec], router, { identityKeys: null, outbound: "none" }, versions);
      config.v8Flags = set.split(",").filter(Boolean);
      await withScratchWorkerd(config, { loader: true, cleanup }, async (w) => {
        const spec = { url: `http://127.0.0.1:${w.port}`, ...request };
        const roles = async () => new Map([[w.pid, "server"], [process.pid, "bench"]]);
        await runLoad({ ...spec, durationS: 2 });
        await waitQuiet(roles, { maxMs: 10_000 });
        const done = await measureCpu(roles);
        const l = await runLoad({ ...spec, durationS: Number(values.seconds) });
        const cpu = await done();
        const us = ((cpu.roles.server ?? 0) * 1e6) / l.rps;
        const rss = (await rssMb(w.pid)) ?? 0;
        const e = res.get(set) ?? { us: [], rss: [], p99: [] };
        e.us.push(us);
        e.rss.push(rss);
        e.p99.push(l.p99);
        res.set(set, e);
        console.log(`round ${r + 1} [${set}]: ${Math.round(l.rps)} req/s p99 ${l.p99} ms, ${Math.round(us)} µs/request, RSS ${Math.round(rss)} MB, foreign ${cpu.foreign.toFixed(2)} cores`);
      });
    }
  }
  for (const [set, e] of res) console.log(`median [${set}]: ${Math.round(median(e.us))} µs/request, p99 ${median(e.p99)} ms, RSS ${Math.round(median(e.rss))} MB`);
} finally {
  await cleanup.run(() => undefined);
}
