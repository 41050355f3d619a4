// `gridiron suspend|resume` on a real mesh: a suspended service keeps serving its version while
// the source moves on and another service deploys; the suspension survives a restart of the node;
// resume deploys what waited. Then the whole mesh: passes observe and change nothing until resumed.
// Services: test/fixtures/services/ramped (answers with its TAG var) and counter.
import { spawnSync } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import type { ReconcileResult, ServiceStatus } from "../../reconciler/reconcile/status.ts";
import { GRIDIRON_BIN, REPO, allocatePorts, meshEnv, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { deployVariant } from "../helpers/bundles.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

let root: string;
let dataDir: string;
let bundlesDir: string;
let built: string;
let ports: MeshPorts;
let mesh: RunningMesh | undefined;

/** Puts `service` into the source with vars {TAG: tag}: a new version per tag. */
const deploy = (service: "ramped" | "counter", tag: string) => deployVariant(path.join(built, service), bundlesDir, service, { vars: { TAG: tag, MODE: "ok" } });

const start = async () => (mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log"), env: { GRIDIRON_DRAIN_GRACE_MS: "300" } }));
const service = async (name: string): Promise<ServiceStatus | undefined> => (await mesh!.status()).services.find((s) => s.service === name);
const tag = async (): Promise<string> => ((await mesh!.call("/Ramped/hit")).json as { tag: string }).tag;
const post = async <T>(route: string, body: unknown) => {
  const r = await mesh!.http.request(`${mesh!.apiUrl}${route}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, body: JSON.parse(r.text) as T };
};
/** The CLI, as an operator runs it against this mesh. */
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [GRIDIRON_BIN, ...args], { cwd: REPO, env: meshEnv(dataDir, bundlesDir, ports), encoding: "utf8", timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
/** Waits for a pass that started after now (the folder watcher's, or ours), and returns it. */
async function passAfter(): Promise<ReconcileResult> {
  const after = (await mesh!.status()).lastReconcile?.id ?? 0;
  void post("/reconcile", {});
  return waitFor("a new pass", async () => {
    const r = (await mesh!.status()).lastReconcile;
    return r && r.id > after ? r : undefined;
  });
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-suspend-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  built = path.join(root, "built");
  ports = await allocatePorts();
  for (const s of ["ramped", "counter"]) await buildService(s, built, { servicesDir: path.join(REPO, "test/fixtures/services") });
  await deploy("ramped", "v1");
  await deploy("counter", "v1");
  await start();
  await waitFor("both services to serve", async () => ((await service("ramped"))?.serving && (await service("counter"))?.serving ? true : undefined), 60_000);
}, 120_000);

afterAll(() => tearDownMesh(mesh, root, dataDir));

describe("suspend and resume", () => {
  let v1: string;
  let counterV1: string;

  it("a suspended service keeps serving its version while the source moves on; another service deploys meanwhile", async () => {
    v1 = (await service("ramped"))!.serving!;
    counterV1 = (await service("counter"))!.serving!;
    const suspended = cli("suspend", "ramped", "--reason", "incident 42", "--json");
    expect(suspended.code, suspended.err).toBe(0);
    expect(JSON.parse(suspended.out)).toMatchObject({ scope: "ramped", already: false, suspension: { reason: "incident 42" } });

    await deploy("ramped", "v2");
    await deploy("counter", "v2");
    const counter = await waitFor("counter v2 to serve", async () => {
      const s = await service("counter");
      return s?.desired !== counterV1 && s?.serving === s?.desired ? s : undefined;
    }, 60_000);
    expect(counter.suspended).toBeUndefined();

    const pass = await passAfter();
    expect(pass.suspended).toEqual(["ramped"]);
    const ramped = (await service("ramped"))!;
    expect(ramped.serving).toBe(v1);
    expect(ramped.desired).not.toBe(v1);
    expect(ramped.versions.map((v) => v.version)).toEqual([v1]);
    expect(ramped.suspended).toMatchObject({ scope: "service", reason: "incident 42" });
    expect(ramped.suspended!.by).toMatch(/@/);
    expect(ramped.conditions.find((c) => c.type === "Progressing")!.status).toBe(false);
    expect(await tag()).toBe("v1");

    const metrics = (await mesh!.http.request(`${mesh!.apiUrl}/metrics`)).text;
    expect(metrics).toContain('gridiron_suspended{service="ramped"} 1');
    expect(metrics).toContain('gridiron_suspended{service="counter"} 0');
    expect(metrics).toContain("gridiron_mesh_suspended 0");
    const status = cli("status");
    expect(status.out).toMatch(/ramped .*\n\s+SUSPENDED since .* by .*: incident 42/);

    const rollback = await post<{ error: { code: string } }>("/rollback", { service: "ramped" });
    expect(rollback.status).toBe(400);
    expect(rollback.body.error.code).toBe("SERVICE_SUSPENDED");
  });

  it("the suspension survives a restart of the node", async () => {
    await mesh!.stop();
    await start();
    const ramped = await waitFor("a pass after the restart", async () => ((await mesh!.status()).lastReconcile ? service("ramped") : undefined), 60_000);
    expect(ramped!.suspended).toMatchObject({ scope: "service", reason: "incident 42" });
    expect(ramped!.serving).toBe(v1);
    expect(await tag()).toBe("v1");
  });

  it("resume deploys what waited", async () => {
    const resumed = await post<{ scope: string; pass: ReconcileResult }>("/resume", { service: "ramped" });
    expect(resumed.status).toBe(200);
    expect(resumed.body.pass.deployed.map((d) => d.service)).toEqual(["ramped"]);
    const ramped = (await service("ramped"))!;
    expect(ramped.serving).toBe(ramped.desired);
    expect(ramped.suspended).toBeUndefined();
    expect(await tag()).toBe("v2");
    const again = await post<{ error: { code: string; message: string } }>("/resume", { service: "ramped" });
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe("SUSPEND_INVALID");
  });

  it("a suspended mesh observes and changes nothing; resume applies what waited", async () => {
    const suspended = cli("suspend", "--reason", "freeze");
    expect(suspended.code, suspended.err).toBe(0);
    expect(suspended.out).toMatch(/^suspended the mesh since \S+ by \S+@\S+: freeze\n  passes observe and change nothing/);
    const before = (await service("counter"))!.serving;
    await deploy("counter", "v3");
    const pass = await waitFor("a pass that sees counter v3", async () => {
      const r = await passAfter();
      return (await service("counter"))!.desired !== before ? r : undefined;
    });
    expect(pass.actions).toEqual([]);
    expect(pass.suspended).toEqual(["counter", "ramped"]);
    const s = await mesh!.status();
    expect(s.suspended).toMatchObject({ scope: "mesh", reason: "freeze" });
    expect(s.services.find((x) => x.service === "counter")!.serving).toBe(before);
    const reconcile = cli("reconcile");
    expect(reconcile.out).toContain("suspended, left as they are: counter, ramped");
    expect(cli("status").out).toMatch(/SUSPENDED the whole mesh since .*: freeze: passes observe and change nothing/);

    const resumed = cli("resume");
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/resumed the mesh[\s\S]*now serving counter\//);
    expect((await mesh!.status()).suspended).toBeUndefined();
  });
});
