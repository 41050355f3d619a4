// Lanes (--lanes): a new version on a workerd process and port of its own, served without the
// router's hop, with the same checks. Real restate-server and workerd on loopback: versions take
// the free lanes, a lane refuses what the router would refuse, a version with no free lane goes to
// a cell, and a lane freed by a drained version is taken by the next one.
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import type { CellStatus } from "../../reconciler/reconcile/status.ts";
import { deployGreeterVariant } from "../helpers/bundles.ts";
import { TEST_CELLS, allocatePorts, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

const LANES = 2;
let root: string;
let dataDir: string;
let bundlesDir: string;
let ports: MeshPorts;
let mesh: RunningMesh | undefined;

const cells = async (): Promise<CellStatus[]> => (await mesh!.status()).workerd.cells!;
const laneOf = async (service: string) => (await cells()).find((c) => c.lane && c.versions.some((k) => k.startsWith(`${service}/`)));
const greets = async () => (await mesh!.call("/Greeter/greet", "Ana")).json as string;
const servingGreeter = async () => (await mesh!.status()).services.find((s) => s.service === "greeter")?.serving;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-lanes-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  await buildService("greeter", path.join(root, "built"));
  await buildService("counter", bundlesDir);
  await deployGreeterVariant(path.join(root, "built"), bundlesDir, "Hello");
  ports = await allocatePorts(LANES);
  mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log"), env: { GRIDIRON_LANES: String(LANES), GRIDIRON_DRAIN_GRACE_MS: "300" } });
  await waitFor("greeter and counter to serve", async () => ((await mesh!.status()).services.filter((s) => s.serving).length === 2 ? true : undefined));
});

afterAll(() => tearDownMesh(mesh, root, dataDir));

it("new versions take the lanes: each a process and port of its own after the cells, registered there", async () => {
  const all = await cells();
  expect(all.map((c) => Boolean(c.lane))).toEqual([...Array(TEST_CELLS).fill(false), ...Array(LANES).fill(true)]);
  const lanes = all.filter((c) => c.lane);
  expect(lanes.map((c) => c.versions.map((k) => k.split("/")[0]))).toEqual([["counter"], ["greeter"]]);
  expect(lanes.map((c) => c.url)).toEqual([0, 1].map((i) => `http://127.0.0.1:${ports.workerd + TEST_CELLS + i}`));
  expect(new Set(lanes.map((c) => c.pid)).size).toBe(LANES);
  // With lanes taking every version, no cell runs: not even cell 0, which otherwise always does.
  expect(all.filter((c) => !c.lane).map((c) => c.pid)).toEqual(Array(TEST_CELLS).fill(undefined));
  const deployments = (await (await fetch(`http://127.0.0.1:${ports.admin}/deployments`)).json()) as { deployments: { uri: string }[] };
  for (const c of lanes) expect(deployments.deployments.map((d) => d.uri)).toContain(`${c.url}/${c.versions[0]}/`);
  expect(await greets()).toMatch(/^Hello, Ana! /);
  expect((await mesh!.call("/Counter/lanes/add", 2)).json).toBe(2);
  // No cell runs, and workerd counts as up: every process that holds a version serves.
  expect((await mesh!.http.request(`${mesh!.apiUrl}/metrics`)).text).toMatch(/^gridiron_workerd_up 1$/m);
});

it("a lane refuses what the router refuses: an unsigned request, another version's path", async () => {
  const lane = (await laneOf("greeter"))!;
  const unsigned = await mesh!.http.request(`${lane.url}/${lane.versions[0]}/discover`);
  expect(unsigned.status).toBe(401);
  expect(unsigned.text).toMatch(/not signed by this mesh's Restate/);
  const other = await mesh!.http.request(`${lane.url}/greeter/v-000000000000/discover`);
  expect(other.status).toBe(404);
  expect((await mesh!.http.request(`${lane.url}/_gridiron/health`)).status).toBe(200);
});

it("with every lane taken a new version goes to a cell; the lane its old version leaves is taken by the next", async () => {
  const first = (await laneOf("greeter"))!;
  await deployGreeterVariant(path.join(root, "built"), bundlesDir, "Howdy");
  await waitFor("the new greeter to answer", async () => ((await greets()).startsWith("Howdy,") ? true : undefined), 60_000);
  const howdy = await servingGreeter();
  const inCell = (await cells()).find((c) => c.versions.includes(`greeter/${howdy}`))!;
  expect(inCell.lane).toBeUndefined();
  // The old greeter drains, is deregistered and leaves its lane.
  await waitFor("the old greeter to leave its lane", async () => ((await cells()).find((c) => c.index === first.index)!.versions.length === 0 ? true : undefined), 60_000);
  // An empty lane gives its memory back: its workerd stops until a version takes the lane.
  expect((await cells()).find((c) => c.index === first.index)!.pid).toBeUndefined();
  expect(() => process.kill(first.pid!, 0)).toThrow();
  await deployGreeterVariant(path.join(root, "built"), bundlesDir, "Salut");
  await waitFor("the third greeter to answer", async () => ((await greets()).startsWith("Salut,") ? true : undefined), 60_000);
  const salut = await servingGreeter();
  expect((await laneOf("greeter"))?.versions).toEqual([`greeter/${salut}`]);
  expect((await laneOf("greeter"))?.index).toBe(first.index);
});

it("a lane whose workerd is SIGKILLed is restarted by itself and answers again", async () => {
  const lane = (await laneOf("greeter"))!;
  process.kill(lane.pid!, "SIGKILL");
  await waitFor("the lane to restart", async () => {
    const now = (await cells()).find((c) => c.index === lane.index)!;
    return now.pid !== undefined && now.pid !== lane.pid ? true : undefined;
  }, 60_000);
  expect(await greets()).toMatch(/^Salut, Ana! /);
  expect((await laneOf("greeter"))?.versions).toEqual(lane.versions);
});

it("a service that gains a rollout policy ramps from its version on a lane, which its ramp's cell then serves too", async () => {
  const salut = (await servingGreeter())!;
  const lane = (await laneOf("greeter"))!;
  await deployGreeterVariant(path.join(root, "built"), bundlesDir, "Ciao", { rollout: { steps: [50, 100], stepSeconds: 3600, maxFailureRatio: 0.5, minInvocations: 1 } });
  const deployments = async () => ((await (await fetch(`http://127.0.0.1:${ports.admin}/deployments`)).json()) as { deployments: { uri: string }[] }).deployments;
  const ramp = await waitFor("the ramp to be registered", async () => (await deployments()).find((d) => d.uri.includes(`/greeter/ramp~${salut}~`)), 60_000);
  const rampCell = (await cells()).find((c) => ramp.uri.startsWith(`${c.url}/`))!;
  expect(rampCell.lane).toBeUndefined();
  // The old version: still on its lane (its own deployment), and in the ramp's cell beside the new one.
  expect(rampCell.versions).toContain(`greeter/${salut}`);
  expect((await cells()).find((c) => c.index === lane.index)!.versions).toEqual([`greeter/${salut}`]);
  const words = new Set<string>();
  for (let i = 0; i < 30; i++) words.add((await greets()).split(",")[0]!);
  expect([...words].sort()).toEqual(["Ciao", "Salut"]);

  // A restart mid-ramp: the ramp's cell starts with both versions, before any pass.
  await mesh!.stop();
  const logFile = path.join(root, "restart.log");
  mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile, env: { GRIDIRON_LANES: String(LANES), GRIDIRON_DRAIN_GRACE_MS: "300" } });
  const started = (await readFile(logFile, "utf8")).split("\n").filter((l) => l.includes('"workerd cell serving registered versions"')).map((l) => JSON.parse(l) as { cell?: number; versions: number });
  expect(started.find((l) => (l.cell ?? 0) === rampCell.index)?.versions).toBe(2);
  const again = new Set<string>();
  for (let i = 0; i < 30; i++) again.add((await greets()).split(",")[0]!);
  expect([...again].sort()).toEqual(["Ciao", "Salut"]);

  const promote = await mesh!.http.request(`${mesh!.apiUrl}/rollout`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ service: "greeter", action: "promote" }) });
  expect(promote.status).toBe(200);
  await waitFor("the new greeter alone to answer", async () => {
    const rs = await Promise.all(Array.from({ length: 8 }, () => greets()));
    return rs.every((r) => r.startsWith("Ciao,")) ? true : undefined;
  }, 60_000);
});
