// Version lifecycle end to end with real restate-server and workerd: in-flight invocations finish
// on the version they started on, replaced versions drain and are removed, rollback, breaking
// changes, restarts mid-drain, and deploys under load.
import { mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import { deployGreeterVariant, replaceDir } from "../helpers/bundles.ts";
import type { ServiceStatus } from "../../reconciler/reconcile/status.ts";
import { meshKey, signedHeaders } from "../helpers/identity.ts";
import { GRIDIRON_BIN, REPO, allocatePorts, meshEnv, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";
import { spawnSync } from "node:child_process";

let root: string;
let dataDir: string;
let bundlesDir: string;
let built: string;
let ports: MeshPorts;
let mesh: RunningMesh | undefined;

const ENV = { GRIDIRON_DRAIN_GRACE_MS: "300", GRIDIRON_RETAIN: "3" };
const start = async () => (mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log"), env: ENV }));

/** Drops a greeter bundle whose greeting word is `word` into the bundles folder (atomic rename). */
const deployGreeter = (word: string) => deployGreeterVariant(built, bundlesDir, word);

async function service(name: string): Promise<ServiceStatus | undefined> {
  return (await mesh!.status()).services.find((s) => s.service === name);
}

async function greetsWith(word: string): Promise<string> {
  return waitFor(`greeter to answer with ${word}`, async () => {
    const r = await mesh!.call("/Greeter/greet");
    return typeof r.json === "string" && r.json.startsWith(`${word},`) ? (await service("greeter"))!.serving : undefined;
  });
}

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const r = await mesh!.http.request(`http://127.0.0.1:${ports.admin}/query`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: sql }),
  });
  return (JSON.parse(r.text) as { rows: Record<string, unknown>[] }).rows;
}

/** Starts greetLater and waits until Restate has pinned it to a deployment. */
async function startSleeper(ms: number): Promise<string> {
  const r = await mesh!.call("/Greeter/greetLater/send", { name: "Sleepy", ms });
  const id = (r.json as { invocationId: string }).invocationId;
  await waitFor("the invocation to be pinned", async () => {
    const rows = await query(`SELECT pinned_deployment_id FROM sys_invocation_status WHERE id = '${id}'`);
    return rows[0]?.pinned_deployment_id ? true : undefined;
  });
  return id;
}

async function attach(id: string): Promise<unknown> {
  const r = await mesh!.http.request(`${mesh!.ingressUrl}/restate/invocation/${id}/attach`, { timeoutMs: 60_000 });
  return JSON.parse(r.text);
}

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [GRIDIRON_BIN, ...args], { env: meshEnv(dataDir, bundlesDir, ports), encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-life-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  built = path.join(root, "built");
  ports = await allocatePorts();
  await buildService("greeter", built);
  await buildService("counter", bundlesDir);
  await deployGreeter("Hello");
  await start();
  await greetsWith("Hello");
});

afterAll(() => tearDownMesh(mesh, root, dataDir));

describe("version lifecycle", () => {
  it("an invocation sleeping on v1 finishes there while v2 takes new calls; then v1 drains and is removed", async () => {
    const v1 = (await service("greeter"))!.serving!;
    const id = await startSleeper(4000);
    await deployGreeter("Howdy");
    const v2 = await greetsWith("Howdy");
    expect(v2).not.toBe(v1);

    // A count is a snapshot: the pass that registers v2 may also see one of greetsWith's own
    // calls still running on v1. Once those are done, the sleeper alone holds v1.
    const draining = await waitFor("v1 to show as draining, held by the sleeper alone", async () => {
      const row = (await service("greeter"))!.versions.find((v) => v.version === v1);
      return row?.state === "draining" && row.blocking === 1 ? row : undefined;
    });
    expect(draining.blocking).toBe(1);
    expect(draining.invocations).toEqual([id]);
    const draining2 = (await service("greeter"))!.conditions.find((c) => c.type === "Draining")!;
    expect(draining2.status).toBe(true);

    expect(await attach(id)).toMatch(/^Hello, Sleepy! .*after 4000 ms/);

    await waitFor("v1 to be removed", async () => ((await service("greeter"))!.versions.find((v) => v.version === v1)?.state === "stored" ? true : undefined));
    const deployments = JSON.parse((await mesh!.http.request(`http://127.0.0.1:${ports.admin}/deployments`)).text) as { deployments: { uri: string }[] };
    expect(deployments.deployments.some((d) => d.uri.includes(`/${v1}/`))).toBe(false);
    const gone = await mesh!.http.request(`${await mesh!.cellUrl("greeter")}/greeter/${v1}/discover`, { headers: { connection: "close", accept: "application/vnd.restate.endpointmanifest.v3+json", ...signedHeaders(meshKey(dataDir), "/discover") } });
    expect(gone.status).toBe(404);
    expect((await stat(path.join(dataDir, "versions", "greeter", v1))).isDirectory()).toBe(true);
  });

  it("rollback serves a stored version again (re-registered, or promoted while still registered) until the source moves on", async () => {
    const greeter = (await service("greeter"))!;
    const hello = greeter.versions.find((v) => v.state === "stored")!.version;
    const howdy = greeter.serving!;
    // Keep Howdy registered (draining) so rolling forward to it must promote it.
    const sleeper = await startSleeper(6000);

    const back = cli("rollback", "greeter", hello);
    expect(back.code, back.out).toBe(0);
    expect(await greetsWith("Hello")).toBe(hello);
    expect((await service("greeter"))!.pinned).toBe(hello);
    expect((await service("greeter"))!.versions.find((v) => v.version === howdy)?.state).toBe("draining");

    const forward = cli("rollback", "greeter", howdy);
    expect(forward.code, forward.out).toBe(0);
    expect(await greetsWith("Howdy")).toBe(howdy);
    expect(await attach(sleeper)).toMatch(/^Howdy, Sleepy! /);

    // A new bundle in the source releases the pin.
    await deployGreeter("Salut");
    await greetsWith("Salut");
    expect((await service("greeter"))!.pinned).toBeUndefined();
  });

  it("retention keeps the newest versions on disk and removes older ones that no longer serve", async () => {
    await deployGreeter("Hej");
    await greetsWith("Hej");
    const { readdir } = await import("node:fs/promises");
    const versionDirs = async () => (await readdir(path.join(dataDir, "versions", "greeter"))).filter((d) => !d.startsWith("."));
    // Five greeter versions were deployed so far; retention is 3 and the older ones drain away.
    const onDisk = await waitFor("older greeter versions beyond retention to be removed", async () => {
      const dirs = await versionDirs();
      return dirs.length <= 3 ? dirs : undefined;
    });
    expect(onDisk).toContain((await service("greeter"))!.serving);
  });

  it("a breaking change is refused without the opt-in and accepted with it", async () => {
    const before = (await service("counter"))!.serving!;
    const staging = path.join(root, "breaking");
    await buildService("counter", staging, { servicesDir: path.join(REPO, "test/fixtures/services") });
    await replaceDir(path.join(staging, "counter"), path.join(bundlesDir, "counter"));
    const refused = await waitFor("the breaking change to be refused", async () => {
      const error = (await service("counter"))?.error;
      return error?.code === "BREAKING_CHANGE" ? error : undefined;
    });
    expect(refused.message).toMatch(/removes handler Counter\/reset/);
    expect(refused.message).toContain('"breaking": true');
    expect((await service("counter"))!.serving).toBe(before);
    expect((await mesh!.call("/Counter/keep/reset")).status).toBe(200);

    const manifestPath = path.join(bundlesDir, "counter", "gridiron.json");
    const manifest = JSON.parse(await readFile(manifestPath, "utf8")) as Record<string, unknown>;
    await writeFile(manifestPath, JSON.stringify({ ...manifest, breaking: true }));
    await waitFor("the opted-in breaking change to serve", async () => {
      const c = (await service("counter"))!;
      return c.serving !== before && !c.error ? true : undefined;
    });
    expect((await mesh!.call("/Counter/keep/add")).json).toBe(1);
    expect((await mesh!.call("/Counter/keep/reset")).status).not.toBe(200);
  });

  it("a restart while a version is draining resumes its lifecycle", async () => {
    const old = (await service("greeter"))!.serving!;
    const id = await startSleeper(5000);
    await deployGreeter("Ahoy");
    await greetsWith("Ahoy");
    expect(await mesh!.stop()).toBe(0);
    mesh = undefined;
    await start();
    const row = await waitFor("the old version to show as draining after restart", async () => {
      const r = (await service("greeter"))?.versions.find((v) => v.version === old);
      return r?.state === "draining" && r.blocking === 1 ? r : undefined;
    });
    expect(row.invocations).toEqual([id]);
    expect(await attach(id)).toMatch(/^Hej, Sleepy! /);
    await waitFor("the old version to be removed after restart", async () => ((await service("greeter"))!.versions.find((v) => v.version === old)?.state === "stored" ? true : undefined));
  });

  it("back-to-back deploys under load: no failed call, no invocation retried by Restate", async () => {
    const since = new Date().toISOString();
    let stop = false;
    const failures: string[] = [];
    const acked = new Map<string, number>();
    const loops = Array.from({ length: 4 }, async (_, i) => {
      const key = `load-${i}`;
      while (!stop) {
        const g = await mesh!.call("/Greeter/greet").catch((e: Error) => ({ status: 0, text: e.message, json: undefined }));
        if (g.status !== 200) failures.push(`greet ${g.status} ${g.text}`);
        const c = await mesh!.call(`/Counter/${key}/add`).catch((e: Error) => ({ status: 0, text: e.message, json: undefined }));
        if (c.status !== 200) failures.push(`add ${c.status} ${c.text}`);
        else acked.set(key, c.json as number);
      }
    });
    const words = ["One", "Two", "Three", "Four", "Five", "Six"];
    for (const w of words) {
      await deployGreeter(w);
      await greetsWith(w);
    }
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    for (const [key, last] of acked) expect((await mesh!.call(`/Counter/${key}/get`)).json).toBe(last);
    // Restate records a TransientError journal event for every failed attempt it retries (e.g. a
    // connection reset by a workerd generation going away); earlier tests restart the mesh on
    // purpose, so only invocations created during this test count.
    const retried = await query(
      `SELECT e.id, e.event_json FROM sys_journal_events e JOIN sys_invocation_status i ON e.id = i.id WHERE e.event_type = 'TransientError' AND i.created_at >= '${since}'`,
    );
    expect(retried).toEqual([]);
  });

  it("a service removed from the source stays registered while an invocation needs it, then is deregistered", async () => {
    const serving = (await service("greeter"))!.serving!;
    const id = await startSleeper(3000);
    const registered = async () => {
      const deployments = JSON.parse((await mesh!.http.request(`http://127.0.0.1:${ports.admin}/deployments`)).text) as { deployments: { uri: string }[] };
      return deployments.deployments.some((d) => d.uri.includes(`/${serving}/`));
    };
    const passes = async () => (await mesh!.status()).lastReconcile?.id ?? 0;
    const before = await passes();
    // counter stays, so the folder is not empty: removing greeter is a real request.
    await rm(path.join(bundlesDir, "greeter"), { recursive: true });
    // Two passes after the removal (the change and a drain follow-up, each long past the 300 ms
    // grace) have seen the sleeping invocation and kept the deployment.
    await waitFor("two passes after the removal", async () => ((await passes()) >= before + 2 ? true : undefined));
    expect(await registered()).toBe(true);
    // Status says it is on its way out, held by the sleeper (new calls still reach it meanwhile).
    const row = await waitFor("the removed greeter to show as draining", async () => {
      const r = (await service("greeter"))?.versions.find((v) => v.version === serving);
      return r?.state === "draining" && r.blocking === 1 ? r : undefined;
    });
    expect(row.invocations).toEqual([id]);
    expect(await attach(id)).toMatch(/, Sleepy! .*after 3000 ms/);
    await waitFor("the removed greeter to be deregistered", async () => ((await registered()) ? undefined : true));
    // Back as it was for whatever runs next.
    await deployGreeter("Hello");
    await greetsWith("Hello");
  });
});
