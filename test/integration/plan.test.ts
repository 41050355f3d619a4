// `gridiron plan` and a real pass share one gate: what the plan calls refused, the pass refuses,
// for the checks that need the serving version to judge (a breaking change, a Restate service
// another bundle owns). Passes here run only when asked (long debounce and resync), so the plan
// is asked before any pass has seen the change.
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import type { PlanReport, ReconcileResult } from "../../reconciler/reconcile/status.ts";
import { REPO, allocatePorts, startGridiron, waitFor, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";
import { replaceDir } from "../helpers/bundles.ts";

let root: string;
let dataDir: string;
let bundlesDir: string;
let mesh: RunningMesh | undefined;

const ENV = { GRIDIRON_DEBOUNCE_MS: "600000", GRIDIRON_RESYNC_MS: "600000" };

/** The API's answer; a pass that only refused things answers 500 with its result. */
async function api<T>(method: "GET" | "POST", route: string, status = 200): Promise<T> {
  const r = await mesh!.http.request(`${mesh!.apiUrl}${route}`, { method, timeoutMs: 120_000 });
  expect(r.status, r.text).toBe(status);
  return JSON.parse(r.text) as T;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-plan-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  await buildService("counter", bundlesDir);
  mesh = await startGridiron({ dataDir, bundlesDir, ports: await allocatePorts(), logFile: path.join(root, "gridiron.log"), env: ENV });
  await waitFor("counter to serve", async () => ((await mesh!.status()).services.find((s) => s.service === "counter")?.serving ? true : undefined));
});

afterAll(() => tearDownMesh(mesh, root, dataDir));

it("plan refuses a breaking change and a conflicting bundle exactly as the pass then does", async () => {
  const serving = (await mesh!.status()).services.find((s) => s.service === "counter")!.serving;
  // The fixture counter drops Counter/reset; a copy of the demo counter under another name
  // provides the Restate service Counter, which bundle "counter" owns.
  const staging = path.join(root, "staging");
  await buildService("counter", path.join(staging, "fixture"), { servicesDir: path.join(REPO, "test/fixtures/services") });
  await buildService("counter", path.join(staging, "demo"));
  const manifestPath = path.join(staging, "demo", "counter", "gridiron.json");
  const manifest = JSON.parse(await readFile(manifestPath, "utf8")) as Record<string, unknown>;
  await writeFile(manifestPath, JSON.stringify({ ...manifest, name: "copycat" }));
  await replaceDir(path.join(staging, "fixture", "counter"), path.join(bundlesDir, "counter"));
  await rename(path.join(staging, "demo", "counter"), path.join(bundlesDir, "copycat"));

  const plan = await api<PlanReport>("GET", "/plan");
  const check = (service: string) => plan.checks.find((c) => c.service === service);
  expect(check("counter")).toMatchObject({ ok: false });
  expect(check("counter")!.message).toMatch(/removes handler Counter\/reset/);
  expect(check("copycat")).toMatchObject({ ok: false });
  expect(check("copycat")!.message).toMatch(/provides Restate service "Counter", which bundle "counter" already provides/);
  expect(plan.plan.actions.filter((a) => a.type === "register" || a.type === "promote" || a.type === "store")).toEqual([]);

  const pass = await api<ReconcileResult>("POST", "/reconcile", 422);
  expect(pass.errors.map((e) => e.code).sort()).toEqual(["BREAKING_CHANGE", "SERVICE_CONFLICT"]);
  expect(pass.deployed).toEqual([]);
  expect((await mesh!.status()).services.find((s) => s.service === "counter")!.serving).toBe(serving);
  expect((await mesh!.call("/Counter/plan/reset")).status).toBe(200);
});
