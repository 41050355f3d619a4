// Gridiron as a cluster on a 3-node Restate cluster: two nodes (serve) behind one address (the
// local forwarder, as a Kubernetes Service would be) and registrars (register once every node
// serves, one at a time by a lock kept in Restate). Real restate-server, workerd and gridiron
// processes on loopback; each failure is a SIGKILL under load.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import { loadOrCreateIdentity } from "../../reconciler/restate/identity.ts";
import { startForwarder, type Forwarder } from "../../scripts/cluster/forwarder.ts";
import { deployGreeterVariant } from "../helpers/bundles.ts";
import { daemonPid, processesUnder, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { freePortBlock, freePorts } from "../helpers/ports.ts";
import { startRestateCluster, type RestateCluster } from "../../reconciler/restate/cluster.ts";

const CELLS = 2;
let root: string;
let bundlesDir: string;
let built: string;
let restate: RestateCluster | undefined;
/** The Restate node clients and Gridiron call through; never killed here. */
const VIA = 1;
const ingressUrl = () => restate!.nodes[VIA]!.ingressUrl;
let forwarder: Forwarder | undefined;
const nodes: (RunningMesh | undefined)[] = [];
const registrars: (RunningMesh | undefined)[] = [];
let nodeApis: string[] = [];
let fwdBase = 0;
let deadPort = 0;
let pr2: MeshPorts | undefined;

async function portsFor(): Promise<MeshPorts> {
  const workerd = await freePortBlock(CELLS);
  const [api, node] = (await freePorts(2)) as [number, number];
  return { ingress: Number(new URL(ingressUrl()).port), admin: Number(new URL(restate!.nodes[VIA]!.adminUrl).port), node, workerd, api };
}

async function start(name: string, role: "node" | "registrar", ports: MeshPorts, extra: Record<string, string> = {}): Promise<RunningMesh> {
  const dataDir = path.join(root, name);
  return startGridiron({
    dataDir, bundlesDir, ports, logFile: path.join(root, `${name}.log`),
    env: {
      GRIDIRON_ROLE: role, GRIDIRON_MANAGE_RESTATE: "false", GRIDIRON_CELLS: String(CELLS),
      GRIDIRON_WORKERD_URL: `http://127.0.0.1:${fwdBase}`, GRIDIRON_NODES: nodeApis.join(","),
      GRIDIRON_REGISTRAR_LEASE_MS: "3000", GRIDIRON_DRAIN_GRACE_MS: "300",
      // Every process trusts (and restate-server signs with) the one request identity key.
      GRIDIRON_IDENTITY_KEY_FILE: path.join(root, "shared", "identity", "private.pem"),
      // Every Restate node's admin API, failed over between; the first refuses connections, as a
      // Restate node that is down would.
      GRIDIRON_RESTATE_ADMIN_URL: [`http://127.0.0.1:${deadPort}`, ...restate!.nodes.map((n) => n.adminUrl)].join(","),
      GRIDIRON_RESTATE_INGRESS_URL: ingressUrl(),
      ...extra,
    },
  });
}

async function deployments(): Promise<{ id: string; uri: string }[]> {
  const r = await fetch(`${restate!.nodes[VIA]!.adminUrl}/deployments`);
  return ((await r.json()) as { deployments: { id: string; uri: string }[] }).deployments;
}

async function served(mesh: RunningMesh): Promise<string[]> {
  return ((await mesh.status()).workerd.cells ?? []).flatMap((c) => c.versions);
}

async function call(pathname: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const r = await fetch(`${ingressUrl()}${pathname}`, {
    method: "POST",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: r.status, json: await r.json().catch(() => undefined) };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-roles-"));
  [deadPort] = (await freePorts(1)) as [number];
  bundlesDir = path.join(root, "bundles");
  built = path.join(root, "built");
  const { identity } = await loadOrCreateIdentity(path.join(root, "shared"));
  const rp = await freePorts(9);
  restate = await startRestateCluster({
    baseDir: path.join(root, "restate"),
    nodes: [0, 1, 2].map((i) => ({ ingress: rp[i * 3]!, admin: rp[i * 3 + 1]!, node: rp[i * 3 + 2]! })),
    requestIdentityKeyFile: identity.privateKeyFile,
  });
  await buildService("greeter", built);
  await buildService("counter", bundlesDir);
  await deployGreeterVariant(built, bundlesDir, "Hello");
  const p1 = await portsFor();
  const p2 = await portsFor();
  fwdBase = await freePortBlock(CELLS);
  forwarder = await startForwarder({ listenPorts: Array.from({ length: CELLS }, (_, i) => fwdBase + i), backendPorts: (i) => [p1.workerd + i, p2.workerd + i] });
  nodeApis = [`http://127.0.0.1:${p1.api}`, `http://127.0.0.1:${p2.api}`];
  // node1 reads Restate's registry through the registrar's read-only pass-through (as a node may
  // where only the registrar reaches the admin API), so it waits for the registrar to come up.
  const pr = await portsFor();
  pr2 = await portsFor();
  // Both registrars' pass-throughs (registrar2 starts later), as a Service in front of them would.
  const node1 = start("node1", "node", p1, { GRIDIRON_RESTATE_ADMIN_URL: `http://127.0.0.1:${pr.api}/restate,http://127.0.0.1:${pr2.api}/restate` });
  nodes.push(undefined, await start("node2", "node", p2));
  registrars.push(await start("registrar1", "registrar", pr));
  nodes[0] = await node1;
  await waitFor("greeter and counter to answer through Restate", async () => {
    const [g, c] = await Promise.all([call("/Greeter/greet", "Ana"), call("/Counter/roles/get")]);
    return g.status === 200 && c.status === 200 ? true : undefined;
  }, 120_000);
}, 240_000);

afterAll(async () => {
  for (const m of [...registrars, ...nodes]) await m?.stop();
  await forwarder?.close();
  await restate?.stop();
  if (!root) return;
  // A SIGKILLed gridiron leaves its workerd to the launcher's process-group kill: nothing survives.
  await waitFor("no process left under the test's root", async () => ((await processesUnder(root)).length === 0 ? true : undefined), 30_000);
  if (!process.env.KEEP) await rm(root, { recursive: true, force: true });
});

describe("nodes and a registrar", () => {
  it("registers every version under the one address in front of the nodes, and every node serves it", async () => {
    const ours = (await deployments()).filter((d) => d.uri.startsWith(`http://127.0.0.1:${fwdBase}/`) || d.uri.startsWith(`http://127.0.0.1:${fwdBase + 1}/`));
    expect(ours.map((d) => new URL(d.uri).pathname.split("/")[1]).sort()).toEqual(["counter", "greeter", "gridiron-system"]);
    // The registrar counts only nodes that answer: node1 comes up after it (it reads Restate
    // through the registrar), so it may still be making its first pass when the calls answer.
    const want = ours.map((d) => new URL(d.uri).pathname.split("/").slice(1, 3).join("/"));
    for (const n of nodes) {
      const keys = await waitFor("every node to serve every registered version", async () => {
        const k = await served(n!);
        return want.every((w) => k.includes(w)) ? k : undefined;
      }, 60_000).catch(() => served(n!));
      for (const w of want) expect(keys).toContain(w);
    }
  });

  it("the registrar's pass-through to Restate's admin API reads, and refuses to register", async () => {
    const base = `${registrars[0]!.apiUrl}/restate`;
    expect((await fetch(`${base}/deployments`)).status).toBe(200);
    const q = await fetch(`${base}/query`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "SELECT count(*) AS n FROM sys_deployment" }) });
    expect(q.status).toBe(200);
    const write = await fetch(`${base}/deployments`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ uri: "http://127.0.0.1:1/" }) });
    expect(write.status).toBe(405);
    expect((await fetch(`${base}/deployments/dp_x`, { method: "DELETE" })).status).toBe(404);
  });

  it("a new version is registered only once every node serves it", async () => {
    const before = new Set((await deployments()).map((d) => d.uri));
    await deployGreeterVariant(built, bundlesDir, "Howdy");
    const violations: string[] = [];
    const uri = await waitFor("the new greeter to be registered", async () => {
      const fresh = (await deployments()).find((d) => !before.has(d.uri) && d.uri.includes("/greeter/"));
      if (!fresh) return undefined;
      const key = new URL(fresh.uri).pathname.split("/").slice(1, 3).join("/");
      for (const [i, n] of nodes.entries()) if (!(await served(n!)).includes(key)) violations.push(`node${i + 1} does not serve ${key} though it is registered`);
      return fresh.uri;
    }, 60_000);
    expect(violations).toEqual([]);
    expect(uri).toContain(`127.0.0.1:`);
    await waitFor("the new greeter to answer", async () => {
      const r = await call("/Greeter/greet", "Bo");
      return typeof r.json === "string" && r.json.startsWith("Howdy") ? true : undefined;
    });
  });

  it("a rollback through the registrar reaches every node (the pin lives in Restate) and new calls go to the old version", async () => {
    const r = await fetch(`${registrars[0]!.apiUrl}/rollback`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ service: "greeter" }) });
    // 202: pinned, and the pass that applies it is retried (a 3-node Restate may refuse a query for a moment).
    expect([200, 202], await r.text()).toContain(r.status);
    await waitFor("the rolled-back greeter to answer", async () => {
      const g = await call("/Greeter/greet", "Cy");
      return typeof g.json === "string" && g.json.startsWith("Hello") ? true : undefined;
    }, 60_000);
    const pinned = (await registrars[0]!.status()).services.find((s) => s.service === "greeter")!;
    expect(pinned.pinned).toBe(pinned.serving);
    for (const [i, n] of nodes.entries()) {
      await waitFor(`node${i + 1} to lay the pin over its source`, async () =>
        (await n!.status()).services.find((s) => s.service === "greeter")?.pinned === pinned.serving ? true : undefined, 30_000);
    }
  });

  it("a Restate node SIGKILLed under load costs no call, and Gridiron fails over to another admin URL", async () => {
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const loop = (async () => {
      while (!stop) {
        const r = await call("/Counter/restate-kill/add").catch((e: Error) => ({ status: 0, json: e.message }));
        if (r.status === 200) ok++;
        else failures.push(`${r.status} ${JSON.stringify(r.json)}`);
      }
    })();
    await waitFor("a few calls", async () => (ok >= 5 ? true : undefined));
    // Node 0: the first live admin URL every Gridiron process was given.
    await restate!.killNode(0);
    const at = ok;
    await waitFor("more calls after the kill", async () => (ok >= at + 20 ? true : undefined), 60_000);
    // A deploy still goes through: the registrar reaches Restate through the next admin URL.
    const before = new Set((await deployments()).map((d) => d.uri));
    await deployGreeterVariant(built, bundlesDir, "Hola");
    await waitFor("a greeter deployed while a Restate node is down", async () => {
      const r = await call("/Greeter/greet", "Di");
      return typeof r.json === "string" && r.json.startsWith("Hola") ? true : undefined;
    }, 60_000);
    expect((await deployments()).some((d) => !before.has(d.uri) && d.uri.includes("/greeter/"))).toBe(true);
    stop = true;
    await loop;
    expect(failures).toEqual([]);
    expect((await call("/Counter/restate-kill/get")).json).toBe(ok);
    await restate!.restartNode(0);
  });

  it("a node SIGKILLed under load costs no call: the address in front of the nodes skips it", async () => {
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const loop = (async () => {
      while (!stop) {
        const r = await call("/Counter/load/add").catch((e: Error) => ({ status: 0, json: e.message }));
        if (r.status === 200) ok++;
        else failures.push(`${r.status} ${JSON.stringify(r.json)}`);
      }
    })();
    await waitFor("a few calls", async () => (ok >= 5 ? true : undefined));
    // SIGKILL of the daemon: a crash (its workerd cells go with it, killed by the launcher).
    process.kill(await daemonPid(nodes[0]!.pid), "SIGKILL");
    await nodes[0]!.exited;
    const at = ok;
    await waitFor("more calls after the kill", async () => (ok >= at + 20 ? true : undefined), 60_000);
    stop = true;
    await loop;
    expect(failures).toEqual([]);
    expect((await call("/Counter/load/get")).json).toBe(ok);
  });

  it("a second registrar takes over within the lease when the first is SIGKILLed", async () => {
    registrars.push(await start("registrar2", "registrar", pr2!));
    // A crash, not a clean stop: the lock is not released, its lease has to run out.
    process.kill(await daemonPid(registrars[0]!.pid), "SIGKILL");
    await registrars[0]!.exited;
    registrars[0] = undefined;
    const before = new Set((await deployments()).map((d) => d.uri));
    const t0 = Date.now();
    await deployGreeterVariant(built, bundlesDir, "Ahoy");
    await waitFor("the standby registrar to register the new greeter", async () =>
      (await deployments()).some((d) => !before.has(d.uri) && d.uri.includes("/greeter/")) ? true : undefined, 60_000);
    // Within the lease (3 s) plus a pass and the nodes' own deploy of the new version.
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it("replaced versions drain, are deregistered cluster-wide, and only then does a node stop serving them", async () => {
    const greeters = async () => (await deployments()).filter((d) => new URL(d.uri).pathname.startsWith("/greeter/")).map((d) => new URL(d.uri).pathname.split("/")[2]!);
    // Read anew each time: the registration the last test saw lands in the registrar's status only
    // when its pass ends.
    const latest = await waitFor("every older greeter to be deregistered", async () => {
      const serving = (await registrars[1]!.status()).services.find((s) => s.service === "greeter")?.serving;
      const left = await greeters();
      return left.length === 1 && left[0] === serving ? serving : undefined;
    }, 60_000);
    // The surviving node follows: it serves the one registered greeter and no older one.
    await waitFor("node2 to drop the deregistered greeters", async () => {
      const served = (await nodes[1]!.status()).workerd.cells!.flatMap((c) => c.versions).filter((k) => k.startsWith("greeter/"));
      return served.length === 1 && served[0] === `greeter/${latest}` ? true : undefined;
    }, 60_000);
  });
  it("a progressive rollout runs in the cluster: the ramp is registered only once every node serves both versions, splits new calls, and promote ends it", async () => {
    const before = new Set((await deployments()).map((d) => d.uri));
    await deployGreeterVariant(built, bundlesDir, "Salut", { rollout: { steps: [50, 100], stepSeconds: 3600, maxFailureRatio: 0.5, minInvocations: 1 } });
    const violations: string[] = [];
    await waitFor("the greeter ramp to be registered", async () => {
      const ramp = (await deployments()).find((d) => !before.has(d.uri) && d.uri.includes("/greeter/ramp~"));
      if (!ramp) return undefined;
      const [, from, to] = new URL(ramp.uri).pathname.split("/")[2]!.split("~");
      // node1 was SIGKILLed above: node2 is the Ready node.
      const keys = await served(nodes[1]!);
      for (const v of [from, to]) if (!keys.includes(`greeter/${v}`)) violations.push(`node2 does not serve greeter/${v} though the ramp is registered`);
      return true;
    }, 60_000);
    expect(violations).toEqual([]);
    const words = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const r = await call("/Greeter/greet", "Ed");
      expect(r.status).toBe(200);
      words.add(String(r.json).split(",")[0]!);
    }
    expect([...words].sort()).toEqual(["Ahoy", "Salut"]);
    const promote = await fetch(`${registrars[1]!.apiUrl}/rollout`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ service: "greeter", action: "promote" }) });
    expect(promote.status).toBe(200);
    await waitFor("the new greeter alone to answer", async () => {
      const rs = await Promise.all(Array.from({ length: 8 }, () => call("/Greeter/greet", "Flo")));
      return rs.every((r) => typeof r.json === "string" && r.json.startsWith("Salut")) ? true : undefined;
    }, 60_000);
  });
  it("a suspension written through a node holds the registrar back until it is resumed", async () => {
    const node2 = nodes[1]!;
    const registrar = registrars[1]!;
    const post = (m: RunningMesh, route: string, body: unknown) =>
      fetch(`${m.apiUrl}${route}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await post(node2, "/suspend", { service: "greeter", reason: "cluster drill" })).status).toBe(200);
    const before = new Set((await deployments()).map((d) => d.uri));
    await deployGreeterVariant(built, bundlesDir, "Servus");
    // A registrar pass that saw the suspension: it names greeter among what it left alone.
    const after = (await registrar.status()).lastReconcile?.id ?? 0;
    await waitFor("a registrar pass that holds greeter back", async () => {
      void post(registrar, "/reconcile", {});
      const r = (await registrar.status()).lastReconcile;
      return r && r.id > after && r.suspended?.includes("greeter") ? true : undefined;
    }, 60_000);
    expect((await deployments()).filter((d) => !before.has(d.uri) && d.uri.includes("/greeter/"))).toEqual([]);
    expect(String((await call("/Greeter/greet", "Gus")).json)).toMatch(/^Salut/);
    expect((await post(node2, "/resume", { service: "greeter" })).status).toBe(200);
    await waitFor("the waiting greeter to answer once resumed", async () => {
      const r = await call("/Greeter/greet", "Hal");
      return typeof r.json === "string" && r.json.startsWith("Servus") ? true : undefined;
    }, 60_000);
  });
});
