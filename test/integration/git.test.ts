// Git as the desired state, end to end: a bare repository on disk is the remote, `gridiron up --git`
// runs real restate-server and workerd, pushes are announced with a signed webhook, calls go
// through Restate ingress. Waits on readiness, never on fixed sleeps.
import { execFileSync, spawnSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import { signHubBody } from "../../reconciler/api/webhook.ts";
import { GRIDIRON_BIN, allocatePorts, meshEnv, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

const SECRET = "webhook-secret-for-tests";
const gitEnv = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^GIT_/i.test(k))), LC_ALL: "C" };

let root: string;
let dataDir: string;
let remote: string;
let work: string;
let ports: MeshPorts;
let mesh: RunningMesh | undefined;

function git(...args: string[]): string {
  return execFileSync("git", ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main", ...args], {
    cwd: work, env: gitEnv, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

async function setGreeting(word: string): Promise<void> {
  const file = path.join(work, "bundles", "greeter", "gridiron.json");
  const manifest = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  await writeFile(file, `${JSON.stringify({ ...manifest, vars: { GREETING: word } }, null, 2)}\n`);
}

/** POSTs a push event to the webhook; `signature` null sends no signature header. */
async function webhook(signature?: string | null): Promise<{ status: number; text: string }> {
  const body = JSON.stringify({ ref: "refs/heads/main", after: git("rev-parse", "HEAD") });
  const headers: Record<string, string> = { "content-type": "application/json", "x-github-event": "push" };
  if (signature !== null) headers["x-hub-signature-256"] = signature ?? signHubBody(SECRET, body);
  return mesh!.http.request(`${mesh!.apiUrl}/hooks/git`, { method: "POST", headers, body });
}

async function greetsWith(word: string): Promise<string> {
  return waitFor(`greeter to answer with ${word}`, async () => {
    const r = await mesh!.call("/Greeter/greet", "Ana");
    return typeof r.json === "string" && r.json.startsWith(`${word}, Ana!`) ? r.json : undefined;
  }, 60_000);
}

/** Waits until a pass has finished at `sha` (status is written when a pass ends). */
async function reconciledAt(sha: string) {
  return waitFor(`a pass to finish at ${sha.slice(0, 12)}`, async () => {
    const s = await mesh!.status();
    return s.source.revision === `main@sha1:${sha}` ? s : undefined;
  }, 60_000);
}

async function serving(service: string) {
  const s = await mesh!.status();
  const svc = s.services.find((x) => x.service === service);
  return { status: s, version: svc?.versions.find((v) => v.version === svc.serving) };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-gitmesh-"));
  dataDir = path.join(root, "data");
  remote = path.join(root, "deploy.git");
  work = path.join(root, "work");
  ports = await allocatePorts();
  // The deployments repo: bundles/greeter and bundles/counter, as build-service writes them.
  execFileSync("git", ["init", "-q", "--bare", remote], { env: gitEnv });
  await mkdir(work);
  git("init", "-q");
  git("remote", "add", "origin", remote);
  const built = path.join(root, "built");
  await buildService("greeter", built);
  await buildService("counter", built);
  await cp(built, path.join(work, "bundles"), { recursive: true });
  await writeFile(path.join(work, "README.md"), "what runs in the mesh\n");
  git("add", "-A");
  git("commit", "-qm", "greeter and counter");
  git("push", "-q", "origin", "HEAD:main");
  mesh = await startGridiron({
    dataDir, bundlesDir: path.join(root, "unused-bundles"), ports, logFile: path.join(root, "gridiron.log"),
    args: ["--git", remote, "--branch", "main", "--path", "bundles"],
    // Only the webhook (and explicit reconciles) fetch during the test: the timers are far away.
    env: { GRIDIRON_WEBHOOK_SECRET: SECRET, GRIDIRON_GIT_FETCH_MS: "600000", GRIDIRON_RESYNC_MS: "600000" },
  });
});

afterAll(() => tearDownMesh(mesh, root, dataDir));

describe("a mesh following a git branch", () => {
  it("serves the bundles of the pushed commit and records the commit", async () => {
    const head = git("rev-parse", "HEAD");
    await waitFor("greeter and counter to serve", async () => {
      const s = await mesh!.status();
      return ["greeter", "counter"].every((n) => s.services.find((x) => x.service === n)?.serving) ? true : undefined;
    }, 60_000);
    expect((await mesh!.call("/Greeter/greet", "Ana")).json).toMatch(/^Hello, Ana! /);
    expect((await mesh!.call("/Counter/alice/add")).json).toBe(1);
    const { status, version } = await serving("greeter");
    expect(status.source).toMatchObject({ kind: "git", location: `${remote} (branch main, path bundles)`, revision: `main@sha1:${head}` });
    expect(status.source.error).toBeUndefined();
    expect(version?.revision).toBe(`main@sha1:${head}`);
  });

  it("a push announced by a signed webhook deploys the change", async () => {
    await setGreeting("Howdy");
    git("commit", "-qam", "greeter says Howdy");
    const head = git("rev-parse", "HEAD");
    const pushed = performance.now();
    git("push", "-q", "origin", "HEAD:main");
    const hook = await webhook();
    expect(hook.status).toBe(202);
    await greetsWith("Howdy");
    console.log(`git push + webhook → first answer by the new version: ${Math.round(performance.now() - pushed)} ms`);
    await reconciledAt(head);
    const { version } = await serving("greeter");
    expect(version?.revision).toBe(`main@sha1:${head}`);
    // Counter did not change: same version, still answering with its state.
    expect((await mesh!.call("/Counter/alice/add")).json).toBe(2);
  });

  it("a webhook with a wrong or missing signature is refused and changes nothing", async () => {
    git("revert", "--no-edit", "HEAD");
    git("push", "-q", "origin", "HEAD:main");
    const before = await mesh!.status();
    const passes = before.history.length ? before.history[0]!.id : 0;
    for (const signature of [null, "sha256=" + "0".repeat(64), signHubBody("another-secret", "{}"), "garbage"]) {
      const r = await webhook(signature);
      expect(r.status).toBe(401);
      expect(r.text).toContain("X-Hub-Signature-256");
    }
    const after = await mesh!.status();
    expect(after.history.length ? after.history[0]!.id : 0).toBe(passes);
    expect(after.source.revision).toBe(before.source.revision);
    expect((await mesh!.call("/Greeter/greet", "Ana")).json).toMatch(/^Howdy, Ana! /);
    const log = await readFile(mesh!.logFile, "utf8");
    expect(log).toContain("webhook refused");
    expect(log).not.toContain(SECRET);
  });

  it("a revert commit rolls back to the earlier version", async () => {
    const head = git("rev-parse", "HEAD");
    expect((await webhook()).status).toBe(202);
    await greetsWith("Hello");
    await reconciledAt(head);
  });

  it("a force-push to an older commit makes it the desired state", async () => {
    const howdy = git("rev-parse", "HEAD~1");
    git("push", "-q", "--force", "origin", `${howdy}:main`);
    expect((await webhook()).status).toBe(202);
    await greetsWith("Howdy");
    await reconciledAt(howdy);
  });

  it("with the remote gone, a reconcile reports the source error and everything keeps serving", async () => {
    const serving0 = (await serving("greeter")).version?.version;
    await rm(remote, { recursive: true, force: true });
    const r = spawnSync(process.execPath, [GRIDIRON_BIN, "reconcile"], { env: meshEnv(dataDir, path.join(root, "unused-bundles"), ports), encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stdout + r.stderr).toContain("SOURCE_GIT_FETCH");
    const s = await mesh!.status();
    expect(s.source.error).toMatch(/cannot fetch main from .*deploy\.git: .*does not appear to be a git repository/);
    expect(s.services.find((x) => x.service === "greeter")?.serving).toBe(serving0);
    expect((await mesh!.call("/Greeter/greet", "Ana")).json).toMatch(/^Howdy, Ana! /);
    expect((await mesh!.call("/Counter/alice/add")).json).toBe(3);
    // A webhook meanwhile changes nothing either.
    expect((await webhook()).status).toBe(202);
    await waitFor("the webhook's pass", async () => ((await mesh!.status()).history[0]?.trigger === "webhook" ? true : undefined));
    expect((await mesh!.call("/Greeter/greet", "Ana")).json).toMatch(/^Howdy, Ana! /);
  });
});
