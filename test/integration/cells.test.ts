// Cells: a handler that never yields stops its own workerd process, not the node. With the demo
// services and a spinning one on a node of 4 cells, each service is in a cell of its own, and
// while Poison/spin holds its cell's thread, Greeter and Counter keep answering.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import { REPO, allocatePorts, startGridiron, waitFor, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

let root: string;
let dataDir: string;
let mesh: RunningMesh | undefined;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-cells-"));
  dataDir = path.join(root, "data");
  const bundlesDir = path.join(root, "bundles");
  await buildService("greeter", bundlesDir);
  await buildService("counter", bundlesDir);
  await buildService("poison", bundlesDir, { servicesDir: path.join(REPO, "test/fixtures/services") });
  // Lanes off: this is about cells (a lane is a failure domain too: lanes.test.ts).
  mesh = await startGridiron({ dataDir, bundlesDir, ports: await allocatePorts(), logFile: path.join(root, "gridiron.log"), env: { GRIDIRON_LANES: "0" } });
  await waitFor("three services to serve", async () => ((await mesh!.status()).services.filter((s) => s.serving).length === 3 ? true : undefined));
});

afterAll(() => tearDownMesh(mesh, root, dataDir));

it("places each service in a cell of its own, each a workerd process of its own", async () => {
  const cells = (await mesh!.status()).workerd.cells!;
  expect(cells).toHaveLength(4);
  const holding = cells.filter((c) => c.versions.length > 0);
  expect(holding.map((c) => c.versions.map((k) => k.split("/")[0]))).toEqual([["counter"], ["greeter"], ["poison"]]);
  expect(new Set(holding.map((c) => c.pid)).size).toBe(3);
  expect((await mesh!.call("/Poison/ping")).json).toBe("pong");
});

it("a handler that never yields stops its own cell only: Greeter and Counter keep answering", async () => {
  const spinCell = await mesh!.cellUrl("poison");
  const sent = await mesh!.call("/Poison/spin/send");
  expect(sent.status).toBe(202);
  // The spinning handler's cell stops answering even its health route once the handler holds the thread.
  await waitFor("the spinning handler's cell to hang", async () =>
    (await mesh!.http.request(`${spinCell}/_gridiron/health`, { timeoutMs: 500 }).then(() => false, () => true)) ? true : undefined);
  const failures: string[] = [];
  for (let i = 0; i < 20; i++) {
    const g = await mesh!.http.request(`${mesh!.ingressUrl}/Greeter/greet`, { method: "POST", headers: { "content-type": "application/json" }, body: '"Ana"', timeoutMs: 5000 })
      .catch((e: Error) => ({ status: 0, text: e.message }));
    if (g.status !== 200) failures.push(`greet: ${g.status} ${g.text}`);
    const c = await mesh!.http.request(`${mesh!.ingressUrl}/Counter/cells/add`, { method: "POST", headers: { "content-type": "application/json" }, body: "1", timeoutMs: 5000 })
      .catch((e: Error) => ({ status: 0, text: e.message }));
    if (c.status !== 200) failures.push(`add: ${c.status} ${c.text}`);
  }
  expect(failures).toEqual([]);
  // Nothing spins any more, so the next test's cell is steady.
  const id = (sent.json as { invocationId: string }).invocationId;
  await mesh!.http.request(`http://127.0.0.1:${mesh!.ports.admin}/invocations/${id}/kill`, { method: "PATCH" });
  await waitFor("the spinning handler's cell to answer again", async () =>
    (await mesh!.http.request(`${spinCell}/_gridiron/health`, { timeoutMs: 500 }).then((r) => r.status === 200, () => false)) ? true : undefined, 60_000);
});

it("a cell that crashes (its workerd SIGKILLed) is replaced by itself, named in status, and the other cells answer throughout", async () => {
  const before = (await mesh!.status()).workerd.cells!.find((c) => c.versions.some((k) => k.startsWith("poison/")))!;
  let looping = true;
  const failures: string[] = [];
  let calls = 0;
  const loop = (async () => {
    while (looping) {
      const g = await mesh!.http.request(`${mesh!.ingressUrl}/Greeter/greet`, { method: "POST", headers: { "content-type": "application/json" }, body: '"Bo"', timeoutMs: 5000 })
        .catch((e: Error) => ({ status: 0, text: e.message }));
      calls++;
      if (g.status !== 200) failures.push(`greet: ${g.status} ${g.text}`);
    }
  })();
  await waitFor("a few greets", async () => (calls >= 3 ? true : undefined));
  process.kill(before.pid!, "SIGKILL");
  const after = await waitFor("the crashed cell to be back", async () => {
    const c = (await mesh!.status()).workerd.cells![before.index]!;
    return c.pid !== undefined && c.pid !== before.pid && (c.health?.restarts.crash ?? 0) >= 1 ? c : undefined;
  }, 60_000);
  expect(after.versions).toEqual(before.versions);
  expect((await mesh!.call("/Poison/ping")).json).toBe("pong");
  const at = calls;
  await waitFor("more greets after the restart", async () => (calls >= at + 3 ? true : undefined));
  looping = false;
  await loop;
  expect(failures).toEqual([]);
});
