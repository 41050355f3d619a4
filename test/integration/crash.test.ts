// Crash safety with real servers: the reconciler is SIGKILLed at every named fault point of the
// apply path (and at seeded random points), restarted on the same data dir, and must converge;
// workerd and restate-server are SIGKILLed under load and no acknowledged call is lost.
import { mkdir, mkdtemp, readFile, readdir, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAULT_POINTS } from "../../reconciler/core/faults.ts";
import type { Status } from "../../reconciler/reconcile/status.ts";
import { decodeWorkerdConfig } from "../../reconciler/workerd/encode.ts";
import { buildService } from "../../reconciler/build/service.ts";
import { deployGreeterVariant } from "../helpers/bundles.ts";
import { meshKey, signedHeaders } from "../helpers/identity.ts";
import { allocatePorts, settledProcessesUnder, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

let root: string;
let dataDir: string;
let bundlesDir: string;
let ports: MeshPorts;
let mesh: RunningMesh | undefined;
let logs = 0;

const BASE_ENV = { GRIDIRON_DRAIN_GRACE_MS: "0", GRIDIRON_RETAIN: "1" };
const start = async (env: Record<string, string> = {}) => {
  // A round that failed half-way must not leave its mesh holding the ports for the next one.
  await mesh?.stop();
  return (mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(root, `gridiron-${++logs}.log`), env: { ...BASE_ENV, ...env } }));
};

const deployGreeter = (word: string) => deployGreeterVariant(path.join(root, "built"), bundlesDir, word);

async function greetsWith(word: string): Promise<void> {
  await waitFor(`greeter to answer ${word}`, async () => {
    const r = await mesh!.call("/Greeter/greet");
    return typeof r.json === "string" && r.json.startsWith(`${word},`) ? true : undefined;
  }, 60_000);
}

/** The invariants that must hold after any crash and restart. */
async function expectConverged(word: string): Promise<void> {
  await greetsWith(word);
  // A pass queued now runs after whatever the restart's passes still do (a GC, a swap), so what
  // follows sees the settled state.
  await mesh!.http.request(`${mesh!.apiUrl}/reconcile`, { method: "POST", timeoutMs: 60_000 });
  // Every deployment Restate has for us points at a version workerd serves.
  const deployments = JSON.parse((await mesh!.http.request(`http://127.0.0.1:${ports.admin}/deployments`)).text) as { deployments: { uri: string }[] };
  const cells = await mesh!.cellUrls();
  const ours = deployments.deployments.filter((d) => cells.some((c) => d.uri.startsWith(`${c}/`)));
  expect(ours.length).toBeGreaterThan(0);
  for (const d of ours) {
    // Connection: close, like Restate: a pooled connection may belong to a generation being replaced.
    const r = await mesh!.http.request(`${d.uri}discover`, { headers: { connection: "close", accept: "application/vnd.restate.endpointmanifest.v3+json", ...signedHeaders(meshKey(dataDir), "/discover") } });
    expect(r.status, `${d.uri} must be served`).toBe(200);
  }
  // No half-written version directory is left or used; every version is complete.
  for (const service of await readdir(path.join(dataDir, "versions"))) {
    for (const entry of await readdir(path.join(dataDir, "versions", service))) {
      expect(entry.startsWith(".tmp-"), `leftover ${service}/${entry}`).toBe(false);
      expect((await stat(path.join(dataDir, "versions", service, entry, "spec.json"))).isFile()).toBe(true);
    }
  }
  // Each cell's workerd config on disk is a complete one that decodes and routes every version
  // registered in that cell (a deployment's URI port names its cell: workerd port + index).
  for (const d of ours) {
    const cell = Number(new URL(d.uri).port) - ports.workerd;
    const file = cell === 0 ? path.join(dataDir, "workerd", "config.bin") : path.join(dataDir, "workerd", `cell-${cell}`, "config.bin");
    const config = decodeWorkerdConfig(new Uint8Array(await readFile(file)));
    const router = config.services.find((s) => s.name === "gridiron-router");
    const lane = config.services.find((s) => s.name === "gridiron-lane");
    expect(router ?? lane, `${file} routes nothing`).toBeDefined();
    // A lane: the one version it names; loader mode: the router's live set; static mode: one worker per version.
    const named = (svc: typeof router, binding: string) => (svc && "worker" in svc ? svc.worker.bindings.find((b) => b.name === binding) : undefined);
    const laneOf = named(lane, "GRIDIRON_LANE");
    const live = named(router, "GRIDIRON_LIVE");
    const served = laneOf && "text" in laneOf ? [`v/${laneOf.text}`]
      : live && "json" in live ? Object.keys(JSON.parse(live.json) as object).map((k) => `v/${k}`) : config.services.filter((s) => s.name.startsWith("v/")).map((s) => s.name);
    const [, service, version] = new URL(d.uri).pathname.split("/");
    expect(served).toContain(`v/${service}/${version}`);
  }
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-crash-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  ports = await allocatePorts();
  await mkdir(bundlesDir);
  await buildService("greeter", path.join(root, "built"));
  await buildService("counter", bundlesDir);
  await deployGreeter("Start");
  await start();
  await greetsWith("Start");
  await mesh!.stop();
  mesh = undefined;
});

afterAll(() => tearDownMesh(mesh, root, dataDir));

describe("crash safety", () => {
  const crashes = [...FAULT_POINTS.map((p) => ({ name: p, faults: p })), ...[7, 42, 1234].map((seed) => ({ name: `random seed ${seed}`, faults: `random:${seed}:0.25` }))];

  it.each(crashes)("SIGKILL at $name, restart, converge", async ({ name, faults }) => {
    const word = `W${name.replace(/[^a-z0-9]/gi, "")}`;
    await deployGreeter(word);
    const log = path.join(root, `gridiron-${logs + 1}.log`);
    // The fault may fire in the very first pass (a removal left over from the previous round),
    // before the mesh even reports healthy: that is a crash at the point too.
    const started = await start({ GRIDIRON_FAULTS: faults }).then(() => true, async (err: Error) => {
      expect(await readFile(log, "utf8"), err.message).toContain("fault point");
      return false;
    });
    if (!started) {
      mesh = undefined;
    } else if (faults.startsWith("random")) {
      // A random rule may or may not fire during this deploy; either way the mesh must converge.
      await Promise.race([mesh!.exited, greetsWith(word).then(() => new Promise((r) => setTimeout(r, 1500)))]);
      await mesh!.stop();
    } else {
      const code = await Promise.race([mesh!.exited, new Promise((r) => setTimeout(() => r("never"), 45_000))]);
      expect(code, `fault point ${name} was never reached`).not.toBe("never");
    }
    if (started) expect(await readFile(log, "utf8")).toContain(faults.startsWith("random") ? "" : `fault point ${name}`);
    mesh = undefined;
    expect(await settledProcessesUnder(dataDir)).toEqual([]);
    await start();
    await expectConverged(word);
    await mesh!.stop();
    mesh = undefined;
  });

  it("workerd SIGKILLed under load comes back; Restate retries; no acknowledged call is lost", async () => {
    await start();
    // The process serving the counter (a lane by default, else a cell) is the one under load.
    const counterCell = (s: Status) => s.workerd.cells!.find((c) => c.versions.some((k) => k.startsWith("counter/")))!;
    const before = counterCell(await mesh!.status());
    let stop = false;
    const acked = new Map<string, number>();
    const failures: string[] = [];
    const loops = Array.from({ length: 3 }, async (_, i) => {
      while (!stop) {
        const r = await mesh!.call(`/Counter/wk-${i}/add`).catch((e: Error) => ({ status: 0, text: e.message, json: undefined }));
        if (r.status === 200) acked.set(`wk-${i}`, r.json as number);
        else failures.push(`${r.status} ${r.text}`);
      }
    });
    await waitFor("some load", async () => (acked.size === 3 ? true : undefined));
    const killedAt = performance.now();
    process.kill(before.pid!, "SIGKILL");
    const after = await waitFor("workerd to be restarted", async () => {
      const w = counterCell(await mesh!.status());
      return w.pid && w.pid !== before.pid ? w : undefined;
    });
    const gap = performance.now() - killedAt;
    const countAfter = new Map(acked);
    await waitFor("calls to flow again", async () => ([...acked].every(([k, v]) => v > (countAfter.get(k) ?? 0)) ? true : undefined));
    stop = true;
    await Promise.all(loops);
    console.log(`workerd killed → new generation ${after.generation} (pid ${after.pid}) in ${Math.round(gap)} ms`);
    expect(failures).toEqual([]);
    for (const [key, last] of acked) expect((await mesh!.call(`/Counter/${key}/get`)).json).toBe(last);
    await mesh!.stop();
    mesh = undefined;
  });

  it("restate-server SIGKILLed under load restarts on the same data and keeps every acknowledged increment", async () => {
    await start();
    const pid = (await mesh!.status()).restate.pid!;
    expect(pid).toBeGreaterThan(0);
    let stop = false;
    const acked = new Map<string, number>();
    const attempts = new Map<string, number>();
    const loops = Array.from({ length: 3 }, async (_, i) => {
      const key = `rs-${i}`;
      while (!stop) {
        attempts.set(key, (attempts.get(key) ?? 0) + 1);
        const r = await mesh!.call(`/Counter/${key}/add`).catch(() => undefined);
        if (r?.status === 200) acked.set(key, r.json as number);
        // While restate-server is down, calls fail fast: don't spin.
        else await new Promise((res) => setTimeout(res, 20));
      }
    });
    await waitFor("some load", async () => (acked.size === 3 ? true : undefined));
    process.kill(pid, "SIGKILL");
    const restarted = await waitFor("restate-server to be restarted", async () => {
      const s: Status = await mesh!.status();
      return s.restate.pid && s.restate.pid !== pid ? s : undefined;
    }, 90_000);
    expect(restarted.restate.pid).not.toBe(pid);
    const mark = new Map(acked);
    await waitFor("increments to be acknowledged again", async () => ([...acked].every(([k, v]) => v > (mark.get(k) ?? 0)) ? true : undefined), 60_000);
    stop = true;
    await Promise.all(loops);
    for (const [key, last] of acked) {
      const count = (await mesh!.call(`/Counter/${key}/get`)).json as number;
      // Every acknowledged increment is there; an increment in flight at the kill may have landed too.
      expect(count).toBeGreaterThanOrEqual(last);
      expect(count).toBeLessThanOrEqual(attempts.get(key)!);
    }
    await mesh!.stop();
    mesh = undefined;
  });
});
