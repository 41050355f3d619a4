// How workerd serves versions, end to end with real restate-server and workerd.
// - loader mode (default): a deploy or a removal changes the router's live set in the running
//   process (same pid, same generation); a removed version stops answering at once and the
//   router unloads it, so the process is never replaced for it; a workerd crash restarts with the
//   latest live set.
// - static mode: every change is a new generation, as before the loader existed.
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceStatus } from "../../reconciler/reconcile/status.ts";
import { buildService } from "../../reconciler/build/service.ts";
import { deployGreeterVariant } from "../helpers/bundles.ts";
import { meshKey, signedHeaders } from "../helpers/identity.ts";
import { allocatePorts, processesUnder, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";

let root: string;
let built: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-modes-"));
  built = path.join(root, "built");
  await buildService("greeter", built);
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

interface Harness {
  mesh: RunningMesh;
  dataDir: string;
  bundlesDir: string;
  ports: MeshPorts;
}

async function startMesh(name: string, env: Record<string, string>): Promise<Harness> {
  const dataDir = path.join(root, name, "data");
  const bundlesDir = path.join(root, name, "bundles");
  const ports = await allocatePorts();
  await mkdir(bundlesDir, { recursive: true });
  await deployGreeterVariant(built, bundlesDir, "Hello");
  // Lanes off: this is about how the cells serve (a lane is always one version, static).
  const mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(root, `${name}.log`), env: { GRIDIRON_DRAIN_GRACE_MS: "200", GRIDIRON_LANES: "0", ...env } });
  const h = { mesh, dataDir, bundlesDir, ports };
  await greetsWith(h, "Hello");
  return h;
}

async function stopMesh(h: Harness | undefined): Promise<void> {
  if (!h) return;
  await h.mesh.stop();
  expect(await processesUnder(h.dataDir)).toEqual([]);
}

async function greeter(h: Harness): Promise<ServiceStatus> {
  return (await h.mesh.status()).services.find((s) => s.service === "greeter")!;
}

/** Waits until greeter answers with `word`; returns the serving version. */
async function greetsWith(h: Harness, word: string): Promise<string> {
  return waitFor(`greeter to answer with ${word}`, async () => {
    const r = await h.mesh.call("/Greeter/greet");
    return typeof r.json === "string" && r.json.startsWith(`${word},`) ? (await greeter(h)).serving : undefined;
  });
}

async function waitStored(h: Harness, version: string): Promise<void> {
  await waitFor(`${version} to be removed from workerd`, async () => ((await greeter(h)).versions.find((v) => v.version === version)?.state === "stored" ? true : undefined));
}

/** GET /discover of a version straight on workerd, signed like Restate signs it. */
async function discover(h: Harness, version: string): Promise<number> {
  const r = await h.mesh.http.request(`${await h.mesh.cellUrl("greeter")}/greeter/${version}/discover`, {
    headers: { accept: "application/vnd.restate.endpointmanifest.v3+json", ...signedHeaders(meshKey(h.dataDir), "/discover") },
  });
  return r.status;
}

const workerd = async (h: Harness) => (await h.mesh.status()).workerd;
const processOf = async (h: Harness) => {
  const w = await workerd(h);
  return { pid: w.pid, generation: w.generation };
};

describe("loader mode (default)", () => {
  let h: Harness | undefined;
  afterAll(() => stopMesh(h));

  it("deploys and removals change the live set in place; a removed version stops answering and is unloaded; the process stays", async () => {
    h = await startMesh("loader", {});
    const v1 = (await greeter(h)).serving!;
    const first = await processOf(h);
    expect(first.pid).toBeGreaterThan(0);
    expect(await workerd(h)).toMatchObject({ mode: "loader" });

    // Deploy: the new version answers from the same process, the old one until it is removed.
    await deployGreeterVariant(built, h.bundlesDir, "Hi");
    const v2 = await greetsWith(h, "Hi");
    expect(v2).not.toBe(v1);
    expect(await processOf(h)).toEqual(first);
    await waitStored(h, v1);
    expect(await discover(h, v1)).toBe(404);
    expect(await discover(h, v2)).toBe(200);
    // The router unloaded the dropped version's isolate (it had answered calls): same process.
    await waitFor("the router to unload the dropped version", async () =>
      (await readFile(h!.mesh.logFile, "utf8")).includes(`unloading greeter/${v1}, no longer live`) ? true : undefined);
    expect(await processOf(h)).toEqual(first);

    // Another deploy and removal: still the same process, however many versions it has dropped.
    await deployGreeterVariant(built, h.bundlesDir, "Hey");
    const v3 = await greetsWith(h, "Hey");
    await waitStored(h, v2);
    expect(await processOf(h)).toEqual(first);
    expect(await discover(h, v3)).toBe(200);
    expect(await discover(h, v2)).toBe(404);
  });

  it("a workerd crash restarts with the live set of the latest in-place change", async () => {
    await deployGreeterVariant(built, h!.bundlesDir, "Yo");
    await greetsWith(h!, "Yo");
    const before = await workerd(h!);
    process.kill(before.pid!, "SIGKILL");
    const after = await waitFor("workerd to be restarted", async () => {
      const w = await workerd(h!);
      return w.pid !== undefined && w.pid !== before.pid ? w : undefined;
    });
    expect(after.generation).toBeGreaterThan(before.generation);
    await greetsWith(h!, "Yo");
  });

  it("the router verifies signatures, so serving generations do not log the SDK's unsigned-requests warning; start-up says so once", async () => {
    const lines = (await readFile(h!.mesh.logFile, "utf8")).split("\n").flatMap((l) => {
      try {
        return [JSON.parse(l) as { msg?: string; component?: string; generation?: unknown }];
      } catch {
        return [];
      }
    });
    // Every version above was loaded by a serving generation (two, after the crash).
    const warnings = lines.filter((l) => l.component === "workerd" && l.msg?.includes("without validating request signatures"));
    expect(warnings).toEqual([]);
    expect(lines.filter((l) => l.msg?.startsWith("the router verifies every request's signature"))).toHaveLength(1);
  });
});

describe("static mode", () => {
  let h: Harness | undefined;
  afterAll(() => stopMesh(h));

  it("every deploy starts a new workerd generation holding the live versions; Restate is told to close connections", async () => {
    h = await startMesh("static", { GRIDIRON_WORKERD_MODE: "static" });
    const first = await workerd(h);
    expect(first.mode).toBe("static");
    const swaps = async () => Number(/^gridiron_workerd_swaps_total (\d+)/m.exec((await h!.mesh.http.request(`${h!.mesh.apiUrl}/metrics`)).text)?.[1] ?? NaN);
    const swapsBefore = await swaps();
    await deployGreeterVariant(built, h.bundlesDir, "Hi");
    await greetsWith(h, "Hi");
    const next = await workerd(h);
    expect(next.generation).toBeGreaterThan(first.generation);
    expect(next.pid).not.toBe(first.pid);
    expect(await swaps()).toBeGreaterThan(swapsBefore);
    // A swap closes the old generation's idle connections: without pooling none is reused then.
    const deployments = JSON.parse((await h.mesh.http.request(`http://127.0.0.1:${h.ports.admin}/deployments`)).text) as { deployments: { additional_headers?: Record<string, string> }[] };
    expect(deployments.deployments.length).toBeGreaterThan(0);
    for (const d of deployments.deployments) expect(d.additional_headers).toMatchObject({ connection: "close" });
  });
});
