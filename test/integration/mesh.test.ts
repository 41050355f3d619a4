// The foundation end to end, as a user runs it: `gridiron up` with real restate-server and workerd
// on free loopback ports, bundles dropped into a watched folder, calls through Restate ingress.
import { spawnSync } from "node:child_process";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import { makeWranglerShapedBundle, writeBrokenBundle } from "../helpers/bundles.ts";
import { meshKey, signedHeaders } from "../helpers/identity.ts";
import { GRIDIRON_BIN, allocatePorts, meshEnv, processesUnder, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

let root: string;
let dataDir: string;
let bundlesDir: string;
let ports: MeshPorts;
let mesh: RunningMesh | undefined;

const start = async () => (mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log") }));

async function serving(service: string): Promise<string | undefined> {
  const s = await mesh!.status();
  return s.services.find((x) => x.service === service)?.serving;
}

function cli(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [GRIDIRON_BIN, ...args], { env: meshEnv(dataDir, bundlesDir, ports), encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-mesh-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  ports = await allocatePorts();
  await buildService("greeter", bundlesDir);
  await buildService("counter", bundlesDir);
  await start();
});

afterAll(() => tearDownMesh(mesh, root, dataDir));

describe("a mesh from a bundles folder", () => {
  it("serves greeter and counter through Restate ingress", async () => {
    await waitFor("greeter and counter to serve", async () => ((await serving("greeter")) && (await serving("counter")) ? true : undefined));
    const hello = await mesh!.call("/Greeter/greet");
    expect(hello.status).toBe(200);
    expect(hello.json).toMatch(/^Hello, World! /);
    expect((await mesh!.call("/Greeter/greet", "Ana")).json).toMatch(/^Hello, Ana! /);
    const counts = [];
    for (let i = 0; i < 3; i++) counts.push((await mesh!.call("/Counter/alice/add")).json);
    expect(counts).toEqual([1, 2, 3]);
    expect((await mesh!.call("/Counter/bob/add", 5)).json).toBe(5);
    expect((await mesh!.call("/Counter/alice/get")).json).toBe(3);
    // Loader mode (the default) replaces no process on a deploy, so Restate may pool connections:
    // no Connection: close (static mode's default, checked in workerd-modes.test.ts).
    const deployments = JSON.parse((await mesh!.http.request(`http://127.0.0.1:${ports.admin}/deployments`)).text) as { deployments: { additional_headers?: Record<string, string> }[] };
    expect(deployments.deployments.length).toBeGreaterThan(0);
    for (const d of deployments.deployments) expect(d.additional_headers?.connection).toBeUndefined();
  });

  it("the CLI reports status, an empty plan and a no-op reconcile", async () => {
    const status = cli("status", "--json");
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.out) as { services: { service: string; serving?: string }[] };
    expect(parsed.services.map((s) => s.service).sort()).toEqual(["counter", "greeter"]);
    const plan = cli("plan");
    expect(plan.out).toContain("nothing to do");
    const reconcile = cli("reconcile");
    expect(reconcile.code).toBe(0);
    expect(reconcile.out).toContain("noop");
  });

  it("replacing greeter's bundle with a wrangler-built one makes new calls answer from it", async () => {
    const before = (await serving("greeter"))!;
    // Same shape as `wrangler deploy --dry-run --outdir`, plus a wrangler.toml whose vars are honoured.
    const staging = path.join(root, "staging");
    await buildService("greeter", staging);
    const shaped = await makeWranglerShapedBundle(path.join(staging, "greeter"), path.join(staging, "greeter-wrangler"));
    await writeFile(path.join(shaped.dir, "wrangler.toml"), 'name = "greeter"\ncompatibility_date = "2026-11-01"\n[vars]\nGREETING = "Howdy"\n');
    const written = performance.now();
    await rm(path.join(bundlesDir, "greeter"), { recursive: true });
    await rename(shaped.dir, path.join(bundlesDir, "greeter"));
    const answer = await waitFor("the new greeter to answer", async () => {
      const r = await mesh!.call("/Greeter/greet", "Bo");
      return typeof r.json === "string" && r.json.startsWith("Howdy") ? r.json : undefined;
    });
    console.log(`bundle written → first answer by the new version: ${Math.round(performance.now() - written)} ms`);
    expect(answer).toMatch(/^Howdy, Bo! /);
    // Status is refreshed when the pass ends, a moment after the new version starts answering.
    const after = await waitFor("status to show the new greeter", async () => {
      const v = await serving("greeter");
      return v && v !== before ? v : undefined;
    });
    expect(after).not.toBe(before);
    // The previous version stays served by workerd so in-flight invocations can finish on it
    // (asked directly, so signed with the mesh's request identity key as Restate would).
    const old = await mesh!.http.request(`${await mesh!.cellUrl("greeter")}/greeter/${before}/discover`, {
      headers: { connection: "close", accept: "application/vnd.restate.endpointmanifest.v3+json", ...signedHeaders(meshKey(dataDir), "/discover") },
    });
    expect(old.status).toBe(200);
  });

  it("a broken or badly named bundle is rejected with a clear reason while the serving version keeps answering", async () => {
    const serving0 = (await serving("greeter"))!;
    const staging = path.join(root, "staging-broken");
    await writeBrokenBundle(staging, "greeter");
    await rm(path.join(bundlesDir, "greeter"), { recursive: true });
    await rename(path.join(staging, "greeter"), path.join(bundlesDir, "greeter"));
    await writeBrokenBundle(path.join(root, "staging-bad-name"), "Bad_Name");
    await rename(path.join(root, "staging-bad-name", "Bad_Name"), path.join(bundlesDir, "Bad_Name"));

    const s = await waitFor("both errors in status", async () => {
      const st = await mesh!.status();
      const g = st.services.find((x) => x.service === "greeter");
      const bad = st.services.find((x) => x.service === "Bad_Name");
      return g?.error && bad?.error ? st : undefined;
    });
    const greeter = s.services.find((x) => x.service === "greeter")!;
    expect(greeter.error!.message).toMatch(/bundle "greeter".*SyntaxError/);
    expect(greeter.serving).toBe(serving0);
    expect(s.services.find((x) => x.service === "Bad_Name")!.error!.message).toMatch(/invalid service name "Bad_Name"/);
    expect((await mesh!.call("/Greeter/greet")).json).toMatch(/^Howdy, World! /);
    expect((await mesh!.call("/Counter/alice/add")).json).toBe(4);
    const statusCli = cli("status");
    expect(statusCli.code).toBe(1);
    expect(statusCli.out).toContain("SyntaxError");
    // The reason is in the logs too.
    const { readFile } = await import("node:fs/promises");
    expect(await readFile(mesh!.logFile, "utf8")).toContain("version rejected; the serving version is untouched");
  });

  it("counter state and the serving versions survive a restart of the whole mesh", async () => {
    const greeterBefore = await serving("greeter");
    expect(await mesh!.stop()).toBe(0);
    mesh = undefined;
    expect(await processesUnder(dataDir)).toEqual([]);

    await start();
    await waitFor("the mesh to report greeter", async () => ((await serving("greeter")) === greeterBefore ? true : undefined));
    expect((await mesh!.call("/Counter/alice/add")).json).toBe(5);
    expect((await mesh!.call("/Counter/bob/get")).json).toBe(5);
    expect((await mesh!.call("/Greeter/greet")).json).toMatch(/^Howdy, World! /);
  });
});
