// Progressive rollouts on a real mesh (issue 15): a ramp splits new invocations between two
// versions by invocation id and keeps every attempt of one on its version; promote by hand; a
// healthy version advances to 100% by itself and the old one drains; a version whose handler
// always throws is rolled back by itself and its retrying invocations complete on the old one;
// a restart mid-rollout and abort by hand. One mesh, one service (test/fixtures/services/ramped), versions v1..v5.
// Every step, abort and rollback also reaches a --notify-url receiver on loopback.
import { spawnSync } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import type { ReconcileResult, ServiceStatus } from "../../reconciler/reconcile/status.ts";
import { rampPick } from "../../reconciler/restate/ramp.ts";
import type { RolloutPolicy } from "../../reconciler/source/manifest.ts";
import { deployVariant } from "../helpers/bundles.ts";
import { GRIDIRON_BIN, REPO, allocatePorts, meshEnv, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { startNotifyReceiver, type NotifyReceiver } from "../helpers/notify-receiver.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

let root: string;
let dataDir: string;
let bundlesDir: string;
let built: string;
let ports: MeshPorts;
let mesh: RunningMesh | undefined;
let receiver: NotifyReceiver | undefined;
const events = (type: string) => receiver!.events(type, "ramped");

/** Holds at its first step until promoted or aborted; never judged worse (ratio 1 cannot be exceeded). */
const HOLD: RolloutPolicy = { steps: [50], stepSeconds: 600, maxFailureRatio: 1, minInvocations: 1 };

const deploy = (tag: string, mode: string, rollout: RolloutPolicy) => deployVariant(path.join(built, "ramped"), bundlesDir, "ramped", { vars: { TAG: tag, MODE: mode }, rollout });

const start = async () => (mesh = await startGridiron({
  dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log"),
  env: { GRIDIRON_DRAIN_GRACE_MS: "300", GRIDIRON_NOTIFY_URL: receiver!.url },
}));

const service = async (): Promise<ServiceStatus> => (await mesh!.status()).services.find((s) => s.service === "ramped")!;

/** Waits until the service's latest deployment is a ramp at `weight` (its step judged at least once). */
const rampAt = (weight: number) =>
  waitFor(`a ramp at ${weight}%`, async () => {
    const s = await service();
    return s.rollout?.deploymentId && s.rollout.weight === weight && s.rollout.decision === "hold" ? s : undefined;
  }, 60_000);

const send = async (): Promise<string> => ((await mesh!.call("/Ramped/hit/send")).json as { invocationId: string }).invocationId;

async function attach(id: string): Promise<{ tag: string; attempts: number }> {
  const r = await mesh!.http.request(`${mesh!.ingressUrl}/restate/invocation/${id}/attach`, { timeoutMs: 60_000 });
  if (r.status !== 200) throw new Error(`attach ${id}: ${r.status} ${r.text}`);
  return JSON.parse(r.text) as { tag: string; attempts: number };
}

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}

const rollout = async (action: "promote" | "abort") => {
  const r = await mesh!.http.request(`${mesh!.apiUrl}/rollout`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ service: "ramped", action }) });
  return { status: r.status, body: JSON.parse(r.text) as ReconcileResult };
};

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-rollout-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  built = path.join(root, "built");
  ports = await allocatePorts();
  receiver = await startNotifyReceiver();
  await buildService("ramped", built, { servicesDir: path.join(REPO, "test/fixtures/services") });
  await deploy("v1", "flaky", HOLD);
  await start();
  await waitFor("v1 to serve", async () => (await service())?.serving);
}, 120_000);

afterAll(async () => {
  await tearDownMesh(mesh, root, dataDir);
  await receiver?.close();
});

describe("progressive rollout", () => {
  let v1: string;
  let v2: string;

  it("a 50% ramp splits new invocations by id, and every attempt of one runs on one version", async () => {
    v1 = (await service()).serving!;
    await deploy("v2", "flaky", HOLD);
    const s = await rampAt(50);
    v2 = s.rollout!.to;
    expect(s.rollout!.from).toBe(v1);
    expect(s.serving).toBe(v2);
    // What an operator reads: `gridiron rollout status` and `gridiron status` show the ramp.
    const cli = (...args: string[]) => spawnSync(process.execPath, [GRIDIRON_BIN, ...args], { cwd: REPO, env: meshEnv(dataDir, bundlesDir, ports), encoding: "utf8", timeout: 30_000 });
    const rs = cli("rollout", "status", "ramped");
    expect(rs.status, rs.stderr).toBe(0);
    expect(rs.stdout).toContain(`rollout ${v1} → ${v2}: 50% of new calls to ${v2}`);
    expect(cli("status").stdout).toMatch(new RegExp(`ramped .*\\n(.*\\n)*  rollout ${v1} → ${v2}: 50%`));
    await waitFor("the ramp's deploy notification", async () => events("deploy").find((e) => "version" in e && e.version === v2));
    expect(events("deploy").find((e) => "version" in e && e.version === v2)).toMatchObject({ from: v1, weight: 50 });

    const ids = await pool(Array.from({ length: 200 }, (_, i) => i), 20, () => send());
    const answers = await pool(ids, 40, attach);
    const ramp = { from: v1, to: v2, weight: 50 };
    let toNew = 0;
    for (const [i, a] of answers.entries()) {
      // Every invocation failed its first attempt; the retry ran in the same version's isolate.
      expect(a.attempts).toBe(2);
      expect(a.tag).toBe(rampPick(ramp, ids[i]!) === v2 ? "v2" : "v1");
      if (a.tag === "v2") toNew++;
    }
    // Binomial(200, 0.5): mean 100, sd 7.1; 4 sd either side.
    expect(toNew).toBeGreaterThan(71);
    expect(toNew).toBeLessThan(129);
    // Status counts the same split from Restate's own data.
    await waitFor("status to count the step's invocations", async () => {
      const c = (await service()).rollout!.counts;
      return c.new.started === toNew && c.old.started === 200 - toNew && c.new.completed === toNew ? c : undefined;
    });
  });

  it("promote by hand: the new version takes every new call and the old one drains", async () => {
    const r = await rollout("promote");
    expect(r.status).toBe(200);
    expect(r.body.rollouts).toEqual([expect.objectContaining({ event: "done", weight: 100, from: v1, to: v2 })]);
    await waitFor("v1 to drain and be removed", async () => ((await service()).versions.find((v) => v.version === v1)?.state === "stored" ? true : undefined));
    const s = await service();
    expect(s.serving).toBe(v2);
    expect(s.rollout).toMatchObject({ decision: "done", weight: 100 });
    expect(await attach(await send())).toEqual({ tag: "v2", attempts: 2 });
  });

  let v3: string;
  it("a healthy version advances to 100% by itself and the old one drains", async () => {
    await deploy("v3", "ok", { steps: [50], stepSeconds: 2, maxFailureRatio: 0.2, minInvocations: 5 });
    v3 = (await rampAt(50)).rollout!.to;
    const started = Date.now();
    const done = await waitFor("the rollout to finish", async () => {
      if ((await service()).rollout?.decision === "done") return Date.now() - started;
      await mesh!.call("/Ramped/hit");
      return undefined;
    }, 60_000);
    expect(done).toBeGreaterThanOrEqual(1500);
    expect((await service()).serving).toBe(v3);
    expect(await attach(await send())).toEqual({ tag: "v3", attempts: 1 });
    await waitFor("v2 to drain and be removed", async () => ((await service()).versions.find((v) => v.version === v2)?.state === "stored" ? true : undefined));
    const metrics = (await mesh!.http.request(`${mesh!.apiUrl}/metrics`)).text;
    expect(metrics).toMatch(/gridiron_rollout_steps_total\{service="ramped"\} 2/);
    await waitFor("the rollout.done notification", async () => events("rollout.done").find((e) => "to" in e && e.to === v3));
  });

  it("a version that always throws is rolled back by itself; its retrying invocations complete on the old version", async () => {
    await deploy("v4", "throw", { steps: [50], stepSeconds: 600, maxFailureRatio: 0.02, minInvocations: 5 });
    const s = await rampAt(50);
    const v4 = s.rollout!.to;
    const firstSent = Date.now();
    const ids = await pool(Array.from({ length: 40 }, (_, i) => i), 10, () => send());
    const abortedAfter = await waitFor("the rollout to abort", async () => ((await service()).rollout?.decision === "aborted" ? Date.now() - firstSent : undefined), 30_000);
    console.log(`rollout: bad version aborted ${abortedAfter} ms after its first invocation was sent`);
    await waitFor("v3 to serve again", async () => ((await service()).serving === v3 ? true : undefined));
    const answers = await pool(ids, 40, attach);
    const toBad = ids.filter((id) => rampPick({ from: v3, to: v4, weight: 50 }, id) === v4).length;
    expect(toBad).toBeGreaterThan(0);
    // Every one completes on v3: those the ramp gave v3 ran there, those it gave v4 were moved.
    for (const a of answers) expect(a.tag).toBe("v3");
    const st = await service();
    expect(st.pinned).toBe(v3);
    expect(st.rollout).toMatchObject({ decision: "aborted", weight: 0, from: v3, to: v4 });
    expect(st.rollout!.reason).toMatch(/moved onto/);
    const metrics = (await mesh!.http.request(`${mesh!.apiUrl}/metrics`)).text;
    expect(metrics).toMatch(/gridiron_rollout_aborts_total\{service="ramped"\} 1/);
    await waitFor("the abort and its rollback, notified", async () =>
      events("rollout.abort").some((e) => "to" in e && e.to === v4) && events("rollback").some((e) => "cause" in e && e.cause === "rollout-abort" && e.version === v3) ? true : undefined);
  });

  it("a restart mid-rollout resumes it where it was; abort by hand: the old version takes every new call again", async () => {
    await deploy("v5", "ok", HOLD);
    const s = await rampAt(50);
    expect(s.rollout!.from).toBe(v3);
    // The step is what Restate has registered: a new node process finds the same ramp.
    await mesh!.stop();
    await start();
    expect((await rampAt(50)).rollout).toMatchObject({ from: v3, to: s.rollout!.to, deploymentId: s.rollout!.deploymentId, since: s.rollout!.since });
    const r = await rollout("abort");
    expect(r.status).toBe(200);
    expect(r.body.rollouts).toEqual([expect.objectContaining({ event: "abort", from: v3 })]);
    await waitFor("v3 to serve again", async () => ((await service()).serving === v3 ? true : undefined));
    expect(await attach(await send())).toEqual({ tag: "v3", attempts: 1 });
    const none = await mesh!.http.request(`${mesh!.apiUrl}/rollout`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ service: "ramped", action: "abort" }) });
    expect(none.status).toBeGreaterThanOrEqual(400);
    expect(none.text).toMatch(/no rollout in progress/);
  });
});
