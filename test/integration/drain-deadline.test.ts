// A version that stays needed past the drain deadline is reported as stuck, naming the
// invocations; nothing is killed. `gridiron move` is the operator's explicit way out: it pauses
// them and resumes them on the latest deployment, after which the old version drains normally.
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import { deployGreeterVariant } from "../helpers/bundles.ts";
import { GRIDIRON_BIN, allocatePorts, meshEnv, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

let root: string;
let dataDir: string;
let bundlesDir: string;
let ports: MeshPorts;
let mesh: RunningMesh;

const deployGreeter = (word: string) => deployGreeterVariant(path.join(root, "built"), bundlesDir, word);

const greeter = async () => (await mesh.status()).services.find((s) => s.service === "greeter");

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-deadline-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  ports = await allocatePorts();
  await mkdir(bundlesDir);
  await buildService("greeter", path.join(root, "built"));
  await deployGreeter("Hello");
  mesh = await startGridiron({
    dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log"),
    env: { GRIDIRON_DRAIN_GRACE_MS: "200", GRIDIRON_DRAIN_DEADLINE_MS: "1000" },
  });
  await waitFor("greeter to serve", async () => (await greeter())?.serving);
});

afterAll(() => tearDownMesh(mesh, root, dataDir));

it("reports a version past its drain deadline as stuck, and `gridiron move` lets it drain", async () => {
  const v1 = (await greeter())!.serving!;
  const sent = await mesh.call("/Greeter/greetLater/send", { name: "Slow", ms: 6000 });
  const id = (sent.json as { invocationId: string }).invocationId;
  await waitFor("the sleeper to be pinned to v1", async () => {
    const q = await mesh.http.request(`http://127.0.0.1:${ports.admin}/query`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query: `SELECT pinned_deployment_id FROM sys_invocation_status WHERE id = '${id}'` }),
    });
    return (JSON.parse(q.text) as { rows: { pinned_deployment_id?: string }[] }).rows[0]?.pinned_deployment_id ? true : undefined;
  });
  await deployGreeter("Howdy");
  const stuck = await waitFor("v1 to be reported stuck", async () => {
    const row = (await greeter())!.versions.find((v) => v.version === v1);
    return row?.state === "stuck" ? row : undefined;
  });
  expect(stuck.invocations).toEqual([id]);
  expect(stuck.reason).toContain("past the drain deadline");
  const failed = (await greeter())!.conditions.find((c) => c.type === "Draining")!;
  expect(failed.reason).toBe("Stuck");

  const moved = spawnSync(process.execPath, [GRIDIRON_BIN, "move", "greeter", v1, "--json"], { env: meshEnv(dataDir, bundlesDir, ports), encoding: "utf8" });
  expect(moved.status, moved.stdout + moved.stderr).toBe(0);
  expect(JSON.parse(moved.stdout)).toEqual({ moved: [id], failed: [] });

  // It finishes on the latest deployment: the greeting word is the new version's.
  const r = await mesh.http.request(`${mesh.ingressUrl}/restate/invocation/${id}/attach`, { timeoutMs: 60_000 });
  expect(JSON.parse(r.text)).toMatch(/^Howdy, Slow! /);
  await waitFor("v1 to be removed", async () => ((await greeter())!.versions.find((v) => v.version === v1)?.state === "stored" ? true : undefined));
});
