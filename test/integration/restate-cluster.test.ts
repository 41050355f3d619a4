/**
 * A local 3-node Restate cluster (reconciler/restate/cluster.ts) on free loopback ports: it comes
 * up provisioned; a deployment registered through one node is seen and called through the others;
 * the node that leads most partitions is SIGKILLed under a call loop without a failed call or a
 * lost increment, and rejoins when restarted; a deployment deleted through one node disappears
 * from the others. The endpoint is the Node SDK peer of the benchmark (scripts/bench/node-peer.ts),
 * a plain Restate HTTP endpoint without request identity.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRestateCluster, type RestateCluster } from "../../reconciler/restate/cluster.ts";
import { clusterSql, partitionLeaders } from "../../reconciler/restate/restatectl.ts";
import { Cleanup } from "../../scripts/bench/cleanup.ts";
import { startNodePeer, type NodePeer } from "../../scripts/bench/peer.ts";
import { processesUnder, waitFor } from "../helpers/mesh.ts";
import { freePorts } from "../helpers/ports.ts";
import { callIngress, registerDeployment } from "../helpers/restate.ts";

let root: string | undefined;
let cluster: RestateCluster | undefined;
let peer: NodePeer | undefined;
const cleanup = new Cleanup();
let startMs = 0;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-restate-cluster-"));
  const p = await freePorts(9);
  const nodes = [0, 1, 2].map((i) => ({ ingress: p[3 * i]!, admin: p[3 * i + 1]!, node: p[3 * i + 2]! }));
  // Start-up waits on readiness only; the generous limit is for a loaded 2-core machine.
  const t0 = Date.now();
  cluster = await startRestateCluster({ baseDir: path.join(root, "restate"), nodes, rocksdbTotalMemory: "256 MiB", readyTimeoutMs: 150_000, stopTimeoutMs: 10_000 });
  startMs = Date.now() - t0;
  peer = await startNodePeer(undefined, path.join(root, "peer.log"), cleanup);
}, 200_000);

afterAll(async () => {
  await cleanup.run();
  await cluster?.stop();
  if (!root) return;
  expect(await processesUnder(root)).toEqual([]);
  await rm(root, { recursive: true, force: true });
}, 60_000);

const fabric = () => cluster!.nodes.map((n) => n.nodeUrl);

async function listedIds(adminUrl: string): Promise<string[]> {
  const res = await fetch(`${adminUrl}/deployments`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${adminUrl}/deployments → ${res.status}`);
  return ((await res.json()) as { deployments: { id: string }[] }).deployments.map((d) => d.id);
}

describe("a local 3-node Restate cluster", () => {
  let deploymentId = "";

  it("comes up provisioned: three alive nodes, every one of the 4 partitions led", async () => {
    const nodes = await clusterSql<{ name: string; state: string }>(fabric(), "SELECT name, state FROM nodes ORDER BY name");
    expect(nodes).toEqual([{ name: "n1", state: "alive" }, { name: "n2", state: "alive" }, { name: "n3", state: "alive" }]);
    const leaders = await waitFor("a leader for every partition", async () => {
      const led = await partitionLeaders(fabric());
      return Object.values(led).reduce((a, b) => a + b, 0) === 4 ? led : undefined;
    });
    expect(Object.keys(leaders).every((n) => ["n1", "n2", "n3"].includes(n))).toBe(true);
  });

  it("a second cluster on the same ports is refused before it starts anything", async () => {
    const nodes = cluster!.nodes.map((n) => ({ ingress: Number(new URL(n.ingressUrl).port), admin: Number(new URL(n.adminUrl).port), node: n.nodePort }));
    await expect(startRestateCluster({ baseDir: path.join(root!, "second"), nodes, readyTimeoutMs: 10_000 }))
      .rejects.toMatchObject({ code: "RESTATE_PORT_TAKEN" });
    expect(await processesUnder(path.join(root!, "second"))).toEqual([]);
  });

  it("a deployment registered through node 1 is listed by nodes 2 and 3 and answers through node 3's ingress", async () => {
    const [n1, n2, n3] = cluster!.nodes as [RestateCluster["nodes"][0], RestateCluster["nodes"][0], RestateCluster["nodes"][0]];
    deploymentId = (await registerDeployment(n1.adminUrl, `http://127.0.0.1:${peer!.port}/`)).id;
    const registeredAt = Date.now();
    for (const n of [n2, n3]) {
      await waitFor(`${n.name} to list ${deploymentId}`, async () => ((await listedIds(n.adminUrl)).includes(deploymentId) ? true : undefined));
    }
    console.log(`restate-cluster: registered through n1, listed by n2 and n3 after ${Date.now() - registeredAt} ms`);
    const res = await callIngress(n3.ingressUrl, "/NodeGreeter/greet", "Ana");
    expect(res.status).toBe(200);
    expect(res.json).toBe("Hello, Ana! Greetings from Gridiron (node).");
  });

  it("SIGKILL of the node leading most partitions under a call loop: no call fails, no increment is lost; it rejoins on restart", async () => {
    const led = await partitionLeaders(fabric());
    const victim = cluster!.nodes.findIndex((n) => n.name === Object.entries(led).sort((a, b) => b[1] - a[1])[0]![0]);
    const survivors = cluster!.nodes.filter((_, i) => i !== victim);
    // Keys spread over the partitions, so some calls need a partition the victim led.
    const keys = Array.from({ length: 8 }, (_, k) => `kill-${Date.now()}-${k}`);
    const calls: { startedAt: number; ms: number; ok: boolean; detail: string }[] = [];
    let stopLoop = false;
    const loop = (async () => {
      for (let i = 0; !stopLoop; i++) {
        const ingress = survivors[i % survivors.length]!.ingressUrl;
        const startedAt = Date.now();
        try {
          const res = await fetch(`${ingress}/NodeCounter/${keys[i % keys.length]}/add`, { method: "POST", signal: AbortSignal.timeout(30_000) });
          const text = await res.text();
          calls.push({ startedAt, ms: Date.now() - startedAt, ok: res.status === 200, detail: `${res.status} ${text}` });
        } catch (err) {
          calls.push({ startedAt, ms: Date.now() - startedAt, ok: false, detail: String(err) });
        }
      }
    })();

    await waitFor("20 calls before the kill", async () => (calls.length >= 20 ? true : undefined));
    const killedAt = Date.now();
    await cluster!.killNode(victim);
    expect(cluster!.nodes[victim]!.pid).toBeUndefined();
    // Go on until the cluster has answered 20 calls after the kill and 3 s have passed.
    await waitFor("20 calls after the kill", async () =>
      calls.filter((c) => c.startedAt > killedAt && c.ok).length >= 20 && Date.now() - killedAt > 3000 ? true : undefined, 60_000);
    stopLoop = true;
    await loop;

    const failed = calls.filter((c) => !c.ok);
    expect(failed.map((c) => c.detail)).toEqual([]);
    const stallMs = Math.max(...calls.filter((c) => c.startedAt + c.ms >= killedAt).map((c) => c.ms));

    const restartAt = Date.now();
    await cluster!.restartNode(victim);
    const rejoinMs = Date.now() - restartAt;
    const back = cluster!.nodes[victim]!;
    expect(back.pid).toBeGreaterThan(0);
    let total = 0;
    for (const key of keys) {
      const count = await callIngress(back.ingressUrl, `/NodeCounter/${key}/get`);
      expect(count.status).toBe(200);
      total += count.json as number;
    }
    expect(total).toBe(calls.length);
    console.log(`restate-cluster: start to ready ${startMs} ms; ${calls.length} calls, 0 failed; ${led[back.name]} of 4 partitions led by the killed node; `
      + `longest call across the kill ${stallMs} ms; restart to ready ${rejoinMs} ms`);
  });

  it("a deployment deleted through node 2 disappears from nodes 1 and 3 (DELETE answers 202 before it has)", async () => {
    const [n1, n2, n3] = cluster!.nodes as [RestateCluster["nodes"][0], RestateCluster["nodes"][0], RestateCluster["nodes"][0]];
    const res = await fetch(`${n2.adminUrl}/deployments/${deploymentId}?force=true`, { method: "DELETE" });
    expect(res.status).toBe(202);
    const deletedAt = Date.now();
    for (const n of [n1, n3]) {
      await waitFor(`${n.name} to drop ${deploymentId}`, async () => (!(await listedIds(n.adminUrl)).includes(deploymentId) ? true : undefined));
    }
    console.log(`restate-cluster: deleted through n2, gone from n1 and n3 after ${Date.now() - deletedAt} ms`);
  });
});
