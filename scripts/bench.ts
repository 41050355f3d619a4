/**
 * `npm run bench`: Gridiron against the peer a user would pick instead, measured in one run on
 * this machine, from a clean clone with no manual steps. Starts everything it needs (a whole
 * mesh with `gridiron up` on free ports, a Restate Node SDK endpoint), prints a table with raw
 * figures and ratios, writes JSON to bench-results/<timestamp>.json, and stops everything it
 * started, also on Ctrl-C. Targets are printed as PASS/MISS; a miss never fails the run.
 *
 *   npm run bench [-- --quick] [--only invocations,deploy,load,reconcile] [--json <file>]
 *                 [--sizes 10,100,500] [--deploys N] [--mode loader|static]
 *
 * Sections: 1 invocations (Gridiron/workerd vs Node SDK, same restate-server), 2 deploy latency,
 * 3 deploys under load, 4 reconcile cost with 10/100/500 versions live, 5 cells (their cost, and
 * a spinning handler beside the demo services), 6 density (1 to 1,000 live SDK versions: memory
 * and a cold version's first call, against one Node SDK process per version), 7 ramp (CPU per call
 * while a progressive rollout routes by invocation id, against plain versions in the same run),
 * 8 hop (the router's hop through Restate: the greeter served directly, directly behind its own
 * identity check, via the router in static and loader mode, by a mesh's cell, and by the Node peer).
 */
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { buildService, REPO_ROOT } from "../reconciler/build/service.ts";
import { Cleanup } from "./bench/cleanup.ts";
import { meshRoles } from "./bench/cpu.ts";
import { GreeterDeployer } from "./bench/deploy.ts";
import { measureDeployLatency, measureDeploysUnderLoad } from "./bench/deploys.ts";
import { measureEndpointsAlone } from "./bench/endpoint.ts";
import { measureHop } from "./bench/hop.ts";
import { measureInvocations } from "./bench/invocations.ts";
import { SECTIONS, parseBenchArgs } from "./bench/options.ts";
import { meshDirs, startBenchMesh, waitFor, type BenchMesh } from "./bench/mesh.ts";
import { startNodePeer, waitInvocationsDone } from "./bench/peer.ts";
import { measureReconcileCost } from "./bench/reconcile-cost.ts";
import { checkTargets, renderReport, type BenchResults } from "./bench/report.ts";
import { measureCells } from "./bench/cells.ts";
import { totalMemory, workerdPids } from "./bench/memory.ts";
import { measureDensity } from "./bench/density.ts";
import { measureRamp } from "./bench/ramp.ts";

/** Adds a var to a built bundle's gridiron.json. */
async function setBundleVar(dir: string, name: string, value: string): Promise<void> {
  const file = path.join(dir, "gridiron.json");
  const manifest = JSON.parse(await readFile(file, "utf8")) as { vars?: Record<string, string> };
  manifest.vars = { ...manifest.vars, [name]: value };
  await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
}

function gitInfo(): { commit: string; dirty: boolean } {
  const rev = spawnSync("git", ["rev-parse", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" });
  const st = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: REPO_ROOT, encoding: "utf8" });
  return { commit: rev.status === 0 ? rev.stdout.trim() : "unknown", dirty: st.status === 0 && st.stdout.trim() !== "" };
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseBenchArgs(argv);
  if ("exit" in parsed) return parsed.exit;
  const { profile, only, densityParts, loadedMax, mode, modeEnv, fetchAdapter, sdkLog } = parsed.args;
  const buildOpts = { fetchAdapter };
  const noIdentity = !parsed.args.identity;
  const log = (line: string) => console.log(line);
  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (sig: string) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${sig}: stopping everything the benchmark started…`);
    void cleanup.run((l) => console.error(l)).finally(() => process.exit(130));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("exit", () => cleanup.killTracked());

  const startedAt = new Date();
  const results: BenchResults = {
    startedAt: startedAt.toISOString(),
    profile: { ...profile, sdkLog: sdkLog ?? "SDK default (INFO)", requestIdentity: noIdentity ? "off on both sides" : "verified on both sides" },
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "?", memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` },
    git: gitInfo(),
    targets: [],
    notes: [`workerd mode: ${mode}`, `demo bundles built with the ${fetchAdapter} fetch adapter`],
    errors: [],
    sectionSeconds: {},
  };
  const root = await mkdtemp(path.join(os.tmpdir(), "gridiron-bench-"));
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const resultsDir = path.join(REPO_ROOT, "bench-results");
  const logFiles: string[] = [];
  cleanup.add("temp dir", async () => {
    // The mesh logs say why a section failed: keep them beside the results before the temp dir goes.
    if (results.errors.length > 0 && logFiles.length > 0) {
      const keep = path.join(resultsDir, `${stamp}-logs`);
      await mkdir(keep, { recursive: true });
      for (const f of logFiles) await copyFile(f, path.join(keep, path.basename(f))).catch(() => undefined);
      console.log(`mesh logs kept in ${path.relative(process.cwd(), keep)}`);
    }
    await rm(root, { recursive: true, force: true });
  });

  const section = async (name: string, fn: () => Promise<void>) => {
    if (interrupted) return;
    log(`\n== ${name}`);
    const t0 = performance.now();
    try {
      await fn();
    } catch (err) {
      if (interrupted) return;
      results.errors.push({ section: name, message: (err as Error).stack ?? String(err) });
      log(`  ${name} failed: ${(err as Error).message}`);
    } finally {
      results.sectionSeconds[name] = Math.round((performance.now() - t0) / 100) / 10;
    }
  };

  try {
    if (only.has("invocations") || only.has("deploy") || only.has("load")) {
      let mesh: BenchMesh | undefined;
      let template = "";
      await section("demo mesh start", async () => {
        const { bundlesDir } = meshDirs(root, "demo");
        const built = [await buildService("greeter", bundlesDir, buildOpts), await buildService("counter", bundlesDir, buildOpts)];
        template = (await buildService("greeter", path.join(root, "template"), buildOpts)).dir;
        // The SDK reads RESTATE_LOGGING from process.env, which workerd fills from text bindings.
        if (sdkLog) for (const b of [...built.map((x) => x.dir), template]) await setBundleVar(b, "RESTATE_LOGGING", sdkLog);
        const m = await startBenchMesh(root, "demo", cleanup, { ...modeEnv, ...(noIdentity ? { GRIDIRON_REQUEST_IDENTITY: "false" } : {}) });
        logFiles.push(m.logFile);
        await waitFor("greeter and counter to answer through ingress", async () => {
          const [g, c] = await Promise.all([m.call("/Greeter/greet", "x"), m.call("/Counter/warmup/get")]);
          return g.status === 200 && c.status === 200 ? true : undefined;
        }, 60_000);
        log(`  gridiron up on free ports in ${Math.round(m.startMs)} ms; logs in ${m.logFile}`);
        mesh = m;
      });

      if (mesh && only.has("invocations")) {
        const m = mesh;
        await section("1. invocations", async () => {
          const peerLog = path.join(root, "node-peer.log");
          logFiles.push(peerLog);
          // Both sides check Restate's request signature (Gridiron's router does by default; the peer
          // gets the mesh's public key), unless --no-identity turns it off on both.
          const key = noIdentity ? undefined : await readFile(path.join(m.dataDir, "identity", "public-key"), "utf8").then((t) => t.trim(), () => undefined);
          const serve = parsed.args.peer === "serve";
          const peer = await startNodePeer(m.adminUrl, peerLog, cleanup, { ...(sdkLog ? { RESTATE_LOGGING: sdkLog } : {}), ...(key ? { BENCH_IDENTITY_KEY: key } : {}) }, serve);
          if (!noIdentity && !key) results.notes.push("this mesh has no identity/public-key: the node peer does not verify request signatures");
          log(`  node SDK peer pid ${peer.pid} on :${peer.port}, registered as ${peer.deploymentId} (${serve ? "HTTP/2, BIDI_STREAM" : "HTTP/1.1"})`);
          await waitFor("the node peer to answer through ingress", async () => ((await m.call("/NodeGreeter/greet", "x")).status === 200 ? true : undefined));
          const p = profile.invocations;
          const roles = meshRoles(m.dataDir, { "node peer": peer.pid });
          const status = await m.status();
          // Greeter and counter may each have a cell: count the connections to the one serving each.
          const cellPort = (service: string) => Number(new URL(status.workerd.cells?.find((c) => c.versions.some((k) => k.startsWith(`${service}/`)))?.url ?? m.workerdUrl).port);
          const ports = { gridiron: { greet: cellPort("greeter"), add: cellPort("counter") }, node: peer.port };
          const wdPids = workerdPids(status);
          const before = { workerd: await totalMemory(wdPids), node: await totalMemory([peer.pid]) };
          const cases = await measureInvocations({ ingressUrl: m.ingressUrl, ...p, roles, ports, log });
          const after = { workerd: await totalMemory(wdPids), node: await totalMemory([peer.pid]) };
          log(`  memory after the runs: workerd ${after.workerd.each.join(" + ")} MB RSS (PSS ${Math.round(after.workerd.pssMb)}), node peer ${Math.round(after.node.rssMb)} MB RSS (PSS ${Math.round(after.node.pssMb)})`);
          results.invocations = {
            ...p,
            peer: `Restate Node SDK 1.17.2 endpoint (${serve ? "http2.createServer + createEndpointHandler, as restate.serve() runs it: HTTP/2, BIDI_STREAM" : "http.createServer + createEndpointHandler, HTTP/1.1 request-response"}), own process, registered with the SAME restate-server as NodeGreeter/NodeCounter`,
            cases,
            memory: { before, after },
          };
          const left = await waitInvocationsDone(m.adminUrl, ["NodeGreeter", "NodeCounter"]);
          if (left !== 0) results.notes.push(`${left} NodeGreeter/NodeCounter invocations were still open when the peer stopped; Restate retries them in later sections`);
          await peer.stop();
          // The endpoints alone take unsigned requests: a second, unregistered peer without identity keys.
          const plain = await startNodePeer(undefined, peerLog, cleanup, sdkLog ? { RESTATE_LOGGING: sdkLog } : {});
          results.endpoints = await measureEndpointsAlone({
            bundleDir: template, nodeUrl: `http://127.0.0.1:${plain.port}`, nodePid: plain.pid,
            connections: p.connections, durationS: Math.min(p.durationS, 5), warmupS: p.warmupS, quietMaxMs: p.quietMaxMs, log,
          }, cleanup);
          await plain.stop();
        });
      }
      if (mesh && only.has("deploy")) {
        const m = mesh;
        await section("2. deploy latency", async () => {
          results.deployLatency = await measureDeployLatency(m, new GreeterDeployer(m, template), { deploys: profile.deployLatency.deploys, log });
        });
      }
      if (mesh && only.has("load")) {
        const m = mesh;
        await section("3. deploys under load", async () => {
          results.deploysUnderLoad = await measureDeploysUnderLoad(m, new GreeterDeployer(m, template), { ...profile.underLoad, roles: meshRoles(m.dataDir), log });
        });
      }
      if (mesh) await mesh.stop();
    }

    if (only.has("reconcile")) {
      await section("4. reconcile cost", async () => {
        await mkdir(meshDirs(root, "reconcile").bundlesDir, { recursive: true });
        const mesh = await startBenchMesh(root, "reconcile", cleanup, modeEnv);
        logFiles.push(mesh.logFile);
        log(`  fresh mesh with an empty bundles folder; logs in ${mesh.logFile}`);
        const r = await measureReconcileCost(mesh, { ...profile.reconcile, mode, log, cleanup });
        results.reconcileCost = { bundle: "trivial bundles (one ~1 kB ES module answering /discover, one Restate service each)", ...r };
        if (r.skipped.length) results.notes.push(`reconcile cost: ${r.skipped.join(", ")} versions not reached within the ${profile.reconcile.growBudgetMs / 1000} s growth budget`);
        await mesh.stop();
      });
    }
    if (only.has("cells")) {
      await section("5. cells", async () => {
        results.cells = await measureCells(root, cleanup, { ...profile.cells, fetchAdapter: fetchAdapter, log });
      });
    }
    if (only.has("density")) {
      await section("6. density", async () => {
        results.density = await measureDensity(root, cleanup, { ...profile.density, parts: densityParts, loadedMax, v8Flags: parsed.args.densityV8Flags, fetchAdapter: fetchAdapter, log });
      });
    }
    if (only.has("ramp")) {
      await section("7. ramp", async () => {
        results.ramp = await measureRamp(root, cleanup, { ...profile.ramp, fetchAdapter: fetchAdapter, log });
      });
    }
    if (only.has("hop")) {
      await section("8. hop", async () => {
        results.hop = await measureHop(root, cleanup, { ...profile.hop, fetchAdapter: fetchAdapter, identity: parsed.args.identity, log });
      });
    }
  } finally {
    await cleanup.run(log);
  }
  if (interrupted) return 130;

  results.finishedAt = new Date().toISOString();
  results.targets = checkTargets(results);
  if (SECTIONS.some((s) => !only.has(s))) results.notes.push(`only: ${[...only].join(", ")}`);
  if (parsed.args.cells !== undefined) results.notes.push(`demo and reconcile meshes with --cells ${parsed.args.cells}`);
  if (modeEnv.GRIDIRON_LANES !== undefined) results.notes.push(`demo and reconcile meshes with --lanes ${modeEnv.GRIDIRON_LANES}`);
  console.log(`\n${renderReport(results)}`);
  const file = parsed.args.json ? path.resolve(parsed.args.json) : path.join(resultsDir, `${stamp}.json`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nJSON: ${path.relative(process.cwd(), file) || file}  (total ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s)`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
