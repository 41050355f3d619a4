// The container's runit definitions, without Docker: container/entrypoint.sh runs `runsvdir` (Debian's
// runit) on a copy of container/runit/ in a temp dir, with this checkout as the app, free ports and
// a temp data dir. Killing the `gridiron up` launcher, then the daemon under it, then the socat
// ingress forwarder, runit brings each back and the mesh answers again through the forwarded
// ingress, with the counter's state intact. SIGTERM to the entrypoint stops everything.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { cp, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient } from "../../reconciler/core/http-client.ts";
import { buildService } from "../../reconciler/build/service.ts";
import { REPO, allocatePorts, meshEnv, processesUnder, tailFile, waitFor, type MeshPorts } from "../helpers/mesh.ts";
import { freePort } from "../helpers/ports.ts";

const haveRunit = ["/usr/bin/runsvdir", "/usr/bin/sv", "/usr/bin/chpst", "/usr/bin/socat"].every((p) => existsSync(p));
if (!haveRunit && !process.env.CI) console.warn("runit.test.ts skipped: runit or socat is missing (apt-get install -y runit socat; .ci/run installs them in CI)");

let root: string;
let svdir: string;
let dataDir: string;
let logFile: string;
let ports: MeshPorts;
let publicPort: number;
let entrypoint: ChildProcess | undefined;
let entrypointExited: Promise<number | null>;
let http = new HttpClient();

async function pidOf(service: string): Promise<number | undefined> {
  const text = await readFile(path.join(svdir, service, "supervise", "pid"), "utf8").catch(() => "");
  const pid = Number(text.trim());
  return pid > 0 ? pid : undefined;
}

/** Direct children of `pid` (from /proc/<n>/stat). */
async function childrenOf(pid: number): Promise<{ pid: number; cmd: string }[]> {
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push({ pid: Number(entry), cmd: (await readFile(`/proc/${entry}/cmdline`, "utf8")).split("\0").join(" ") });
    } catch {
      /* gone */
    }
  }
  return out;
}

async function daemonPid(launcher: number): Promise<number | undefined> {
  return (await childrenOf(launcher)).find((c) => c.cmd.includes("__daemon"))?.pid;
}

/** POST through the forwarded ingress (socat → restate-server). */
async function call(urlPath: string): Promise<{ status: number; json: unknown }> {
  const r = await http.request(`http://127.0.0.1:${publicPort}${urlPath}`, { method: "POST", timeoutMs: 10_000 });
  return { status: r.status, json: JSON.parse(r.text) as unknown };
}

/**
 * Waits until a launcher other than `not` runs a daemon other than `notDaemon` whose API is healthy
 * and whose greeter answers through the forwarded ingress. Returns the new pids.
 */
async function meshBack(not: { launcher?: number; daemon?: number }): Promise<{ launcher: number; daemon: number }> {
  return waitFor("runit to bring the mesh back", async () => {
    const launcher = await pidOf("gridiron");
    if (!launcher || launcher === not.launcher) return undefined;
    const daemon = await daemonPid(launcher);
    if (!daemon || daemon === not.daemon) return undefined;
    const health = await http.request(`http://127.0.0.1:${ports.api}/healthz`, { timeoutMs: 2000 });
    if (health.status !== 200) return undefined;
    const hello = await call("/Greeter/greet");
    return hello.status === 200 && typeof hello.json === "string" && hello.json.startsWith("Hello, World!") ? { launcher, daemon } : undefined;
  }, 150_000).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await tailFile(logFile, 80)}`);
  });
}

/** Closes our keep-alive connections first, so TIME_WAIT lands on our side and not on restate's ports. */
function dropConnections(): void {
  http.close();
  http = new HttpClient();
}

describe.skipIf(!haveRunit && !process.env.CI)("the runit service definitions", () => {
  beforeAll(async () => {
    if (!haveRunit) throw new Error("runit and socat are missing; CI must install them (.ci/run: apt-get install -y runit socat)");
    root = await mkdtemp(path.join(tmpdir(), "gridiron-runit-"));
    svdir = path.join(root, "service");
    dataDir = path.join(root, "data");
    logFile = path.join(root, "runsvdir.log");
    const bundlesDir = path.join(root, "bundles");
    await cp(path.join(REPO, "container/runit"), svdir, { recursive: true });
    await buildService("greeter", bundlesDir);
    await buildService("counter", bundlesDir);
    ports = await allocatePorts();
    publicPort = await freePort();
    const log = createWriteStream(logFile);
    entrypoint = spawn("sh", [path.join(REPO, "container/entrypoint.sh")], {
      env: {
        ...meshEnv(dataDir, bundlesDir, ports),
        GRIDIRON_LOG_LEVEL: "info",
        SVDIR: svdir,
        GRIDIRON_APP_DIR: REPO,
        GRIDIRON_RUN_AS: "",
        GRIDIRON_PUBLIC_PORT: String(publicPort),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    entrypoint.stdout!.pipe(log, { end: false });
    entrypoint.stderr!.pipe(log, { end: false });
    entrypointExited = new Promise((resolve) => entrypoint!.once("exit", (code) => resolve(code)));
  });

  afterAll(async () => {
    http.close();
    if (entrypoint && entrypoint.exitCode === null && entrypoint.signalCode === null) {
      entrypoint.kill("SIGTERM");
      await entrypointExited;
    }
    if (root) {
      expect(await processesUnder(dataDir)).toEqual([]);
      expect(await processesUnder(root)).toEqual([]);
      await rm(root, { recursive: true, force: true });
    }
  });

  it("starts the mesh and the ingress forwarder; sv reports both up and the check passes", async () => {
    await meshBack({});
    expect((await call("/Counter/runit/add")).json).toBe(1);
    const sv = spawnSync("sv", ["check", path.join(svdir, "gridiron"), path.join(svdir, "ingress")], { encoding: "utf8", env: { ...process.env, GRIDIRON_API_PORT: String(ports.api) } });
    expect(sv.stdout).toMatch(/^ok: run: .*gridiron/m);
    expect(sv.stdout).toMatch(/^ok: run: .*ingress/m);
  });

  it("brings the mesh back when the `gridiron up` launcher is killed", async () => {
    const launcher = (await pidOf("gridiron"))!;
    const daemon = (await daemonPid(launcher))!;
    dropConnections();
    process.kill(launcher, "SIGKILL");
    await meshBack({ launcher, daemon });
    expect((await call("/Counter/runit/add")).json).toBe(2);
  });

  it("brings the mesh back when the daemon (and with it restate-server and workerd) is killed", async () => {
    const launcher = (await pidOf("gridiron"))!;
    const daemon = (await daemonPid(launcher))!;
    dropConnections();
    process.kill(daemon, "SIGKILL");
    await meshBack({ launcher, daemon });
    expect((await call("/Counter/runit/add")).json).toBe(3);
  });

  it("brings the ingress forwarder back when socat is killed", async () => {
    const socat = (await pidOf("ingress"))!;
    dropConnections();
    process.kill(socat, "SIGKILL");
    await waitFor("a new socat to forward calls", async () => {
      const pid = await pidOf("ingress");
      if (!pid || pid === socat) return undefined;
      return (await call("/Counter/runit/get").catch(() => undefined))?.json === 3 ? true : undefined;
    }, 60_000);
  });

  it("SIGTERM to the entrypoint stops every service and leaves no process behind", async () => {
    dropConnections();
    entrypoint!.kill("SIGTERM");
    expect(await entrypointExited).toBe(0);
    expect(await processesUnder(dataDir)).toEqual([]);
    expect(await processesUnder(root)).toEqual([]);
    const log = await readFile(logFile, "utf8");
    expect(log).toContain("entrypoint: stopped");
    expect(log).toContain('"msg":"stopped"');
  });
});
