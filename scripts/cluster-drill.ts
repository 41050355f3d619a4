/**
 * `npx just cluster-drill`: the failure drills of the local cluster, measured, on free ports.
 * A 3-node Restate cluster, two Gridiron nodes behind one forwarded address, two registrars
 * (one acts, one stands by), the demo services. Then, each under a Counter call loop through a
 * Restate node that stays up: SIGKILL of one Restate node, of one Gridiron node, and of the acting
 * registrar. Prints failed calls, the count check (Counter's total = successful calls), the
 * longest stall and p99, registrar failover time, and deploy latency (bundle written → every node
 * serves → registered → first answer). Stops everything it started, also on Ctrl-C.
 *
 *   node --import tsx scripts/cluster-drill.ts [--deploys 5] [--json <file>]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { buildService } from "../reconciler/build/service.ts";
import { HttpClient } from "../reconciler/core/http-client.ts";
import type { Status } from "../reconciler/reconcile/status.ts";
import { startRestateCluster, type RestateCluster } from "../reconciler/restate/cluster.ts";
import { loadOrCreateIdentity } from "../reconciler/restate/identity.ts";
import { deployGreeterVariant } from "../test/helpers/bundles.ts";
import { GRIDIRON_BIN, REPO, daemonPid, waitFor } from "../test/helpers/mesh.ts";
import { freePortBlock, freePorts } from "../test/helpers/ports.ts";
import { startForwarder, type Forwarder } from "./cluster/forwarder.ts";
import { percentile } from "./bench/stats.ts";

const { values } = parseArgs({ options: { deploys: { type: "string", default: "5" }, json: { type: "string" }, cells: { type: "string", default: "2" } } });
const CELLS = Number(values.cells);
const http = new HttpClient();
const procs: { name: string; child: ChildProcess; api: number }[] = [];
let cluster: RestateCluster | undefined;
let forwarder: Forwarder | undefined;
let root = "";

async function cleanup(): Promise<void> {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
  await Promise.all(procs.map((p) => (p.child.exitCode === null && p.child.signalCode === null ? new Promise((r) => p.child.once("exit", r)) : undefined)));
  await forwarder?.close();
  await cluster?.stop();
  http.close();
  if (root) await rm(root, { recursive: true, force: true });
}
process.on("SIGINT", () => void cleanup().finally(() => process.exit(130)));

function gridiron(name: string, api: number, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [GRIDIRON_BIN, "up"], {
    cwd: REPO, stdio: ["ignore", "ignore", "ignore"],
    env: { ...process.env, GRIDIRON_DATA_DIR: path.join(root, name), GRIDIRON_API_PORT: String(api), GRIDIRON_LOG_FORMAT: "json", ...env },
  });
  procs.push({ name, child, api });
  return child;
}

async function status(api: number): Promise<Status | undefined> {
  const r = await http.request(`http://127.0.0.1:${api}/status`, { timeoutMs: 3000 }).catch(() => undefined);
  return r?.status === 200 ? (JSON.parse(r.text) as Status) : undefined;
}

interface LoopResult { ok: number; failed: number; failures: string[]; p99: number; maxMs: number; counted: number | undefined }

/** A Counter loop through `ingress` while `during` runs; checks the count at the end. */
async function underLoad(ingress: string, key: string, during: () => Promise<void>): Promise<LoopResult> {
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const lat: number[] = [];
  const loops = Array.from({ length: 4 }, async () => {
    while (!stop) {
      const t0 = performance.now();
      const r = await http.request(`${ingress}/Counter/${key}/add`, { method: "POST", timeoutMs: 30_000 }).catch((e: Error) => ({ status: 0, text: e.message }));
      lat.push(performance.now() - t0);
      if (r.status === 200) ok++;
      else failures.push(`${r.status} ${r.text.slice(0, 120)}`);
    }
  });
  await waitFor("calls to flow", async () => (ok >= 20 ? true : undefined), 60_000);
  await during();
  const at = ok;
  await waitFor("calls to flow again", async () => (ok >= at + 50 ? true : undefined), 120_000);
  stop = true;
  await Promise.all(loops);
  const counted = await http.request(`${ingress}/Counter/${key}/get`, { method: "POST" }).then((r) => Number(r.text), () => undefined);
  lat.sort((a, b) => a - b);
  return { ok, failed: failures.length, failures: failures.slice(0, 5), p99: Math.round(percentile(lat, 99)), maxMs: Math.round(lat[lat.length - 1] ?? 0), counted };
}

async function main(): Promise<void> {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-drill-"));
  const bundlesDir = path.join(root, "bundles");
  const built = path.join(root, "built");
  await buildService("greeter", built);
  await buildService("counter", bundlesDir);
  await deployGreeterVariant(built, bundlesDir, "Hello");
  const { identity } = await loadOrCreateIdentity(path.join(root, "shared"));
  const rp = await freePorts(9);
  const nodes = [0, 1, 2].map((i) => ({ ingress: rp[i * 3]!, admin: rp[i * 3 + 1]!, node: rp[i * 3 + 2]! }));
  const t0 = performance.now();
  cluster = await startRestateCluster({ baseDir: path.join(root, "restate"), nodes, requestIdentityKeyFile: identity.privateKeyFile });
  console.log(`restate cluster of 3 ready in ${Math.round(performance.now() - t0)} ms`);
  const ingress = cluster.nodes.map((n) => n.ingressUrl);
  const admins = cluster.nodes.map((n) => n.adminUrl).join(",");
  const fwd = await freePortBlock(CELLS);
  const workerd = [await freePortBlock(CELLS), await freePortBlock(CELLS)];
  forwarder = await startForwarder({ listenPorts: Array.from({ length: CELLS }, (_, i) => fwd + i), backendPorts: (i) => workerd.map((w) => w + i) });
  const apis = await freePorts(4);
  const common = {
    GRIDIRON_BUNDLES_DIR: bundlesDir, GRIDIRON_MANAGE_RESTATE: "false", GRIDIRON_CELLS: String(CELLS),
    GRIDIRON_RESTATE_ADMIN_URL: admins, GRIDIRON_RESTATE_INGRESS_URL: ingress[1]!,
    GRIDIRON_IDENTITY_KEY_FILE: identity.privateKeyFile, GRIDIRON_WORKERD_URL: `http://127.0.0.1:${fwd}`,
    GRIDIRON_NODES: `http://127.0.0.1:${apis[0]},http://127.0.0.1:${apis[1]}`, GRIDIRON_REGISTRAR_LEASE_MS: "5000",
  };
  gridiron("node1", apis[0]!, { ...common, GRIDIRON_ROLE: "node", GRIDIRON_WORKERD_PORT: String(workerd[0]) });
  gridiron("node2", apis[1]!, { ...common, GRIDIRON_ROLE: "node", GRIDIRON_WORKERD_PORT: String(workerd[1]) });
  gridiron("registrar1", apis[2]!, { ...common, GRIDIRON_ROLE: "registrar" });
  gridiron("registrar2", apis[3]!, { ...common, GRIDIRON_ROLE: "registrar" });
  await waitFor("the demo services to answer through the cluster", async () => {
    const r = await http.request(`${ingress[1]}/Greeter/greet`, { method: "POST", headers: { "content-type": "application/json" }, body: '"x"', timeoutMs: 5000 }).catch(() => undefined);
    return r?.status === 200 ? true : undefined;
  }, 180_000);

  const results: Record<string, unknown> = {};
  // Deploy latency: bundle written → registered and answering (every node serves it first).
  const deploys: number[] = [];
  for (let i = 0; i < Number(values.deploys); i++) {
    const word = `Drill${i}`;
    const t = performance.now();
    await deployGreeterVariant(built, bundlesDir, word);
    await waitFor(`greeter ${word}`, async () => {
      const r = await http.request(`${ingress[1]}/Greeter/greet`, { method: "POST", headers: { "content-type": "application/json" }, body: '"x"', timeoutMs: 5000 }).catch(() => undefined);
      return r?.text.includes(word) ? true : undefined;
    }, 120_000);
    deploys.push(performance.now() - t);
  }
  deploys.sort((a, b) => a - b);
  results.deployLatencyMs = { p50: Math.round(percentile(deploys, 50)), p99: Math.round(percentile(deploys, 99)), n: deploys.length };
  console.log(`deploy latency (written → every node serves → registered → answers): p50 ${results.deployLatencyMs && (results.deployLatencyMs as { p50: number }).p50} ms over ${deploys.length}`);

  // Kill Restate node 3 (index 2); the load goes through node 2 (index 1).
  results.restateNodeKilled = await underLoad(ingress[1]!, "restate-kill", async () => {
    await cluster!.killNode(2);
  });
  console.log("SIGKILL of 1 of 3 Restate nodes:", JSON.stringify(results.restateNodeKilled));
  await cluster.restartNode(2);

  // Kill Gridiron node1.
  results.gridironNodeKilled = await underLoad(ingress[1]!, "node-kill", async () => {
    // SIGKILL of the daemon: a crash of the node, not a clean stop.
    process.kill(await daemonPid(procs[0]!.child.pid!), "SIGKILL");
  });
  console.log("SIGKILL of 1 of 2 Gridiron nodes:", JSON.stringify(results.gridironNodeKilled));

  // Kill the acting registrar: how long until the standby holds the lock.
  const acting = await waitFor("a registrar to hold the lock", async () => {
    for (const p of procs.slice(2)) if ((await status(p.api))?.cluster?.lock?.held) return p;
    return undefined;
  }, 60_000);
  const standby = procs.slice(2).find((p) => p !== acting)!;
  const tk = performance.now();
  // A crash: the lock is not released, its lease has to run out.
  process.kill(await daemonPid(acting.child.pid!), "SIGKILL");
  await waitFor("the standby to hold the lock", async () => ((await status(standby.api))?.cluster?.lock?.held ? true : undefined), 120_000);
  results.registrarFailoverMs = Math.round(performance.now() - tk);
  console.log(`registrar failover: ${results.registrarFailoverMs} ms (lease 5000 ms)`);

  if (values.json) await writeFile(values.json, `${JSON.stringify(results, null, 2)}\n`);
}

try {
  await main();
} catch (err) {
  console.error(`cluster-drill: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
