// The cell watchdog on a real mesh: the demo greeter beside a service whose handlers hang their
// cell (spin), allocate without bound (hog) or burn a second of CPU (slow). With a short hang
// limit, the hung cell is replaced within twice the limit, the spinning invocation ends paused and
// named in status, its service is Degraded; the hog's cell is replaced for memory (its limit comes
// from its gridiron.json); the slow handler is left alone; greeter answers throughout the mesh's
// recovery without a human.
import { readFile, writeFile } from "node:fs/promises";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import type { CellStatus, Status } from "../../reconciler/reconcile/status.ts";
import { REPO, allocatePorts, startGridiron, waitFor, type RunningMesh } from "../helpers/mesh.ts";
import { startNotifyReceiver, type NotifyReceiver } from "../helpers/notify-receiver.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

const HANG_MS = 2500;
const POISON_MEMORY_MB = 256;

let root: string;
let dataDir: string;
let mesh: RunningMesh | undefined;
let adminUrl: string;
let receiver: NotifyReceiver | undefined;

const poisonCell = (s: Status): CellStatus => s.workerd.cells!.find((c) => c.versions.some((k) => k.startsWith("poison/")))!;
const poisonVersion = (s: Status) => s.services.find((x) => x.service === "poison")!.versions.find((v) => v.state === "serving")!;

async function invocationStatus(id: string): Promise<string | undefined> {
  const r = await mesh!.http.request(`${adminUrl}/query`, {
    method: "POST", headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: `SELECT status FROM sys_invocation WHERE id = '${id}'` }),
  });
  return (JSON.parse(r.text) as { rows?: { status?: string }[] }).rows?.[0]?.status;
}

async function greet(): Promise<number> {
  return (await mesh!.http.request(`${mesh!.ingressUrl}/Greeter/greet`, { method: "POST", headers: { "content-type": "application/json" }, body: '"Ana"', timeoutMs: 5000 })).status;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-watchdog-"));
  dataDir = path.join(root, "data");
  const bundlesDir = path.join(root, "bundles");
  await buildService("greeter", bundlesDir);
  await buildService("poison", bundlesDir, { servicesDir: path.join(REPO, "test/fixtures/services") });
  // The poison service asks for less memory than the node's default: its cell gets that limit.
  const manifest = path.join(bundlesDir, "poison", "gridiron.json");
  await writeFile(manifest, JSON.stringify({ ...JSON.parse(await readFile(manifest, "utf8")), limits: { memoryMb: POISON_MEMORY_MB } }));
  mesh = await startGridiron({ dataDir, bundlesDir, ports: await allocatePorts(), logFile: path.join(root, "gridiron.log"), env: { GRIDIRON_CELL_HANG_MS: String(HANG_MS), GRIDIRON_NOTIFY_URL: (receiver = await startNotifyReceiver()).url } });
  adminUrl = `http://127.0.0.1:${mesh.ports.admin}`;
  await waitFor("greeter and poison to serve", async () => ((await mesh!.status()).services.filter((s) => s.serving).length === 2 ? true : undefined), 60_000);
  await waitFor("poison to answer", async () => ((await mesh!.call("/Poison/ping")).json === "pong" ? true : undefined));
}, 120_000);

afterAll(async () => {
  await tearDownMesh(mesh, root, dataDir);
  await receiver?.close();
});

it("each cell's limits are the largest its versions ask for: poison's gridiron.json, greeter's the node's", async () => {
  const s = await mesh!.status();
  const greeterCell = s.workerd.cells!.find((c) => c.versions.some((k) => k.startsWith("greeter/")))!;
  await waitFor("the watchdogs' first ticks", async () => ((await mesh!.status()).workerd.cells!.every((c) => c.pid === undefined || c.health?.rssBytes !== undefined) ? true : undefined));
  const now = await mesh!.status();
  expect(now.workerd.cells![poisonCell(s).index]!.health?.limits).toEqual({ hangMs: HANG_MS, memoryMb: POISON_MEMORY_MB });
  expect(now.workerd.cells![greeterCell.index]!.health?.limits).toEqual({ hangMs: HANG_MS, memoryMb: 1024 });
  expect(now.workerd.cells![greeterCell.index]!.health?.cpuSeconds).toBeGreaterThan(0);
});

it("a slow but legitimate handler (a second of CPU) is not killed", async () => {
  const r = await mesh!.call("/Poison/slow");
  expect(r.status).toBe(200);
  // One more tick, so a kill the watchdog decided would show.
  await new Promise((res) => setTimeout(res, 1000));
  expect(poisonCell(await mesh!.status()).health?.restarts).toEqual({ hang: 0, memory: 0, crash: 0 });
});

it("a spinning handler: its cell is replaced within twice the hang limit, again until the invocation is paused; status names it and the service is Degraded", async () => {
  const before = poisonCell(await mesh!.status());
  // Greeter lives in a cell of its own: it answers throughout, every call within its timeout.
  let looping = true;
  const greetFailures: string[] = [];
  let greets = 0;
  const greeting = (async () => {
    while (looping) {
      const status = await greet().catch((e: Error) => `error ${e.message}`);
      greets++;
      if (status !== 200) greetFailures.push(String(status));
    }
  })();
  const t0 = Date.now();
  const sent = await mesh!.call("/Poison/spin/send");
  expect(sent.status).toBe(202);
  const id = (sent.json as { invocationId: string }).invocationId;
  const replaced = await waitFor("the hung cell to be replaced", async () => {
    const c = poisonCell(await mesh!.status());
    return c.health!.restarts.hang >= 1 && c.pid !== undefined && c.pid !== before.pid ? Date.now() - t0 : undefined;
  }, 4 * HANG_MS);
  expect(replaced).toBeLessThanOrEqual(2 * HANG_MS);
  expect(poisonCell(await mesh!.status()).health!.lastEvent).toMatchObject({ kind: "hang", pid: before.pid });

  // Restate retries it into each fresh process; the third kill with it in flight pauses it.
  await waitFor("the spin to be paused", async () => ((await invocationStatus(id)) === "paused" ? true : undefined), 60_000);
  const s = await waitFor("status to name it", async () => {
    const st = await mesh!.status();
    return poisonVersion(st).poisoned?.some((p) => p.id === id) ? st : undefined;
  });
  expect(Date.now() - t0).toBeLessThan(60_000);
  looping = false;
  await greeting;
  expect(greets).toBeGreaterThan(5);
  expect(greetFailures).toEqual([]);
  expect(poisonVersion(s).poisoned!.find((p) => p.id === id)).toMatchObject({
    service: "poison", target: "Poison/spin", handler: "spin", how: "hang", kills: 3,
    resolve: [`gridiron resume ${id} --deployment latest`, `gridiron kill ${id}`],
  });
  const svc = s.services.find((x) => x.service === "poison")!;
  expect(svc.conditions.find((c) => c.type === "Degraded")).toMatchObject({ status: true, reason: "PoisonedInvocations" });
  expect(svc.conditions.find((c) => c.type === "Degraded")!.message).toContain(id);
  expect(svc.conditions.find((c) => c.type === "Ready")!.status).toBe(false);
  expect(s.services.find((x) => x.service === "greeter")!.conditions.find((c) => c.type === "Ready")!.status).toBe(true);

  // Nothing spins any more: the cell answers, and so does everything else, with no human.
  expect((await mesh!.call("/Poison/ping")).json).toBe("pong");
  expect(await greet()).toBe(200);
  const metrics = (await mesh!.http.request(`${mesh!.apiUrl}/metrics`)).text;
  expect(metrics).toMatch(new RegExp(`gridiron_cell_restarts_total\\{cell="${before.index}",reason="hang"\\} [3-9]`));
  expect(metrics).toContain('gridiron_poisoned_invocations{service="poison"} 1');
  const log = await readFile(mesh!.logFile, "utf8");
  expect(log).toMatch(new RegExp(`"cell ${before.index} hung: killed and replaced \\(poison/`));
  expect(log).toContain(`poison invocation ${id} (Poison/spin) paused`);
  const paused = await receiver!.arrived("the paused invocation, notified", (e) => e.type === "invocation.paused" && e.invocation === id);
  expect(paused.event).toMatchObject({ service: "poison", target: "Poison/spin", how: "hang", kills: 3 });
  await receiver!.arrived("the Degraded version, notified", (e) => e.type === "version.failed" && e.service === "poison" && e.condition === "Degraded");

  // An operator ends it: status forgets it.
  await mesh!.http.request(`${adminUrl}/invocations/${id}/kill`, { method: "PATCH" });
  await waitFor("status to forget the killed invocation", async () => (!poisonVersion(await mesh!.status()).poisoned ? true : undefined), 20_000);
}, 120_000);

it("a handler that allocates without bound: its cell is replaced for memory and the invocation paused", async () => {
  const sent = await mesh!.call("/Poison/hog/send");
  const id = (sent.json as { invocationId: string }).invocationId;
  await waitFor("a memory replacement", async () => ((poisonCell(await mesh!.status()).health?.restarts.memory ?? 0) >= 1 ? true : undefined), 30_000);
  expect(poisonCell(await mesh!.status()).health!.lastEvent!.kind).toBe("memory");
  await waitFor("the hog to be paused", async () => ((await invocationStatus(id)) === "paused" ? true : undefined), 60_000);
  await waitFor("status to name it", async () => (poisonVersion(await mesh!.status()).poisoned?.find((p) => p.id === id)?.how === "memory" ? true : undefined));
  expect(await greet()).toBe(200);
  await mesh!.http.request(`${adminUrl}/invocations/${id}/kill`, { method: "PATCH" });
}, 120_000);
