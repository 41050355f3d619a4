// A hostile environment: the version store's disk fills up or turns read-only, the bundles folder
// is deleted and comes back, the git remote is not there yet. Each gets a clear error; nothing that
// serves is touched, and a process is Ready only once it serves what it should.
import { execFileSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import { deployGreeterVariant } from "../helpers/bundles.ts";
import { allocatePorts, processesUnder, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";

let root: string;
let dataDir: string;
let bundlesDir: string;
let ports: MeshPorts;
let mesh: RunningMesh;
let mounted = false;

/** A 6 MiB tmpfs under the version store: room for three demo bundles (1.7 MB each), not four. */
function mountSmallStore(dir: string): boolean {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=6m", "gridiron-test", dir], { stdio: "pipe" });
    return true;
  } catch (err) {
    // Only an unprivileged developer run may lack mount; CI runs as root on the same machine kind.
    if (process.env.CI) throw err;
    return false;
  }
}

const deployGreeter = (word: string) => deployGreeterVariant(path.join(root, "built"), bundlesDir, word);

const greeter = async () => (await mesh.status()).services.find((s) => s.service === "greeter");
const greets = async () => (await mesh.call("/Greeter/greet")).json as string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-env-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  ports = await allocatePorts();
  await mkdir(path.join(dataDir, "versions"), { recursive: true });
  mounted = mountSmallStore(path.join(dataDir, "versions"));
  await mkdir(bundlesDir);
  await buildService("greeter", path.join(root, "built"));
  await buildService("counter", bundlesDir);
  await deployGreeter("Hello");
  mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log"), env: { GRIDIRON_DRAIN_GRACE_MS: "60000" } });
  await waitFor("greeter to serve", async () => (await greeter())?.serving);
});

afterAll(async () => {
  await mesh?.stop();
  expect(await processesUnder(dataDir)).toEqual([]);
  if (mounted) execFileSync("umount", [path.join(dataDir, "versions")]);
  await rm(root, { recursive: true, force: true });
});

const readyz = async (m: RunningMesh) => {
  const r = await m.http.request(`${m.apiUrl}/readyz`);
  return { status: r.status, body: JSON.parse(r.text) as { ready: boolean; reason?: string } };
};

it("the bundles folder deleted: the source error shows, everything keeps serving, and it recovers when the folder is back", async () => {
  const serving = (await greeter())!.serving;
  expect(await readyz(mesh)).toEqual({ status: 200, body: { ready: true } });
  await rm(bundlesDir, { recursive: true, force: true });
  const status = await waitFor("the source error", async () => {
    const s = await mesh.status();
    return s.source.error ? s : undefined;
  });
  expect(status.source.error).toMatch(/bundles folder .* cannot be read/);
  // Still ready: what it serves, it keeps serving.
  expect((await readyz(mesh)).status).toBe(200);
  expect((await greeter())!.serving).toBe(serving);
  expect(await greets()).toMatch(/^Hello, World! /);
  expect((await mesh.call("/Counter/env/add")).status).toBe(200);

  // The folder comes back with a new greeter: the watch resumes and it deploys.
  await mkdir(bundlesDir);
  await buildService("counter", bundlesDir);
  const small = path.join(root, "built", "greeter");
  await cp(small, path.join(root, "again"), { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(root, "again", "gridiron.json"), "utf8")) as Record<string, unknown>;
  await writeFile(path.join(root, "again", "gridiron.json"), JSON.stringify({ ...manifest, vars: { GREETING: "Back" } }));
  await rename(path.join(root, "again"), path.join(bundlesDir, "greeter"));
  await waitFor("the new greeter after the folder came back", async () => ((await greets()).startsWith("Back,") ? true : undefined), 60_000);
  expect((await mesh.status()).source.error).toBeUndefined();
});

it("a full disk refuses the new version with a clear error; the old one keeps serving", async (ctx) => {
  if (!mounted) return ctx.skip("mount(8) not permitted here (not root?)");
  const serving = (await greeter())!.serving;
  const answer = await greets();
  await deployGreeter("Howdy");
  const error = await waitFor("the store error", async () => {
    const e = (await greeter())?.error;
    return e?.message.includes("cannot store") ? e : undefined;
  });
  expect(error.message).toMatch(/cannot store greeter\/v-[0-9a-f]{12} under .*(ENOSPC|no space)/i);
  expect((await greeter())!.serving).toBe(serving);
  expect(await greets()).toBe(answer);
  // Nothing half-written is left behind.
  expect((await readdir(path.join(dataDir, "versions", "greeter"))).filter((e) => e.startsWith("."))).toEqual([]);
});

it("a read-only store refuses the new version with a clear error; the old one keeps serving", async (ctx) => {
  if (!mounted) return ctx.skip("mount(8) not permitted here (not root?)");
  const serving = (await greeter())!.serving;
  const answer = await greets();
  execFileSync("mount", ["-o", "remount,ro", path.join(dataDir, "versions")]);
  try {
    await deployGreeter("Salut");
    const error = await waitFor("the read-only error", async () => {
      const e = (await greeter())?.error;
      return e && /EROFS|read-only/i.test(e.message) ? e : undefined;
    });
    expect(error.message).toMatch(/cannot store greeter\/v-[0-9a-f]{12}/);
    expect((await greeter())!.serving).toBe(serving);
    expect(await greets()).toBe(answer);
  } finally {
    execFileSync("mount", ["-o", "remount,rw", path.join(dataDir, "versions")]);
  }
});

it("a mesh whose git remote does not exist yet is alive but not ready until a pass reads it", async () => {
  const remote = path.join(root, "late.git");
  const late = await startGridiron({
    dataDir: path.join(root, "late-data"), bundlesDir: path.join(root, "late-unused"), ports: await allocatePorts(), logFile: path.join(root, "late.log"),
    args: ["--git", remote, "--branch", "main", "--path", "bundles"],
  });
  try {
    expect((await late.http.request(`${late.apiUrl}/healthz`)).status).toBe(200);
    const before = await waitFor("the first pass to fail on the missing remote", async () => {
      const r = await readyz(late);
      return r.body.reason?.includes("SOURCE_GIT") ? r : undefined;
    });
    expect(before.status).toBe(503);
    expect(before.body.ready).toBe(false);
    // The remote appears with a counter bundle; the retries pick it up.
    const work = path.join(root, "late-work");
    await buildService("counter", path.join(work, "bundles"));
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main", ...args], { cwd: work, stdio: "pipe" });
    git("init", "-q");
    git("add", "-A");
    git("commit", "-qm", "counter");
    execFileSync("git", ["init", "-q", "--bare", remote], { stdio: "pipe" });
    git("push", "-q", remote, "HEAD:main");
    await waitFor("ready once the remote is read", async () => ((await readyz(late)).status === 200 ? true : undefined), 90_000);
    expect((await late.status()).services.find((s) => s.service === "counter")?.serving).toBeDefined();
  } finally {
    await late.stop();
  }
});
