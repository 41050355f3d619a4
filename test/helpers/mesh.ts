// Runs a whole Gridiron node (`gridiron up`) as a child process on free loopback ports, the way a
// user does, and stops it by pid. Waits on readiness (the API's /healthz), never on fixed sleeps.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { readFile, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HttpClient } from "../../reconciler/core/http-client.ts";
import { DEFAULT_LANES } from "../../reconciler/node/options.ts";
import type { Status } from "../../reconciler/reconcile/status.ts";
import { freePortBlock, freePorts } from "./ports.ts";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const GRIDIRON_BIN = path.join(REPO, "bin/gridiron.js");

export interface MeshPorts {
  ingress: number;
  admin: number;
  node: number;
  workerd: number;
  api: number;
}

/** Cells a test mesh runs by default (GRIDIRON_CELLS unset): the node's default. */
export const TEST_CELLS = 4;
/** The daemon's default lanes (role all), which follow the cells in a mesh's port block. */
export const TEST_LANES = DEFAULT_LANES;

/** Free ports for one mesh; `workerd` is the first of TEST_CELLS + `lanes` consecutive free ports. */
export async function allocatePorts(lanes = TEST_LANES): Promise<MeshPorts> {
  const block = TEST_CELLS + lanes;
  for (;;) {
    const workerd = await freePortBlock(block);
    const [ingress, admin, node, api] = (await freePorts(4)) as [number, number, number, number];
    // The kernel may hand out a port inside the block again now that it is closed.
    if ([ingress, admin, node, api].every((p) => p < workerd || p >= workerd + block)) return { ingress, admin, node, workerd, api };
  }
}

export function meshEnv(dataDir: string, bundlesDir: string, ports: MeshPorts): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GRIDIRON_DATA_DIR: dataDir,
    GRIDIRON_BUNDLES_DIR: bundlesDir,
    GRIDIRON_INGRESS_PORT: String(ports.ingress),
    GRIDIRON_ADMIN_PORT: String(ports.admin),
    GRIDIRON_RESTATE_NODE_PORT: String(ports.node),
    GRIDIRON_WORKERD_PORT: String(ports.workerd),
    GRIDIRON_API_PORT: String(ports.api),
    GRIDIRON_LOG_FORMAT: "json",
    GRIDIRON_LOG_LEVEL: "debug",
  };
}

export interface RunningMesh {
  pid: number;
  ports: MeshPorts;
  ingressUrl: string;
  apiUrl: string;
  logFile: string;
  http: HttpClient;
  status(): Promise<Status>;
  /** Base URL of the workerd cell that serves `service` (any version of it), or of cell 0. */
  cellUrl(service: string): Promise<string>;
  /** Base URLs of every workerd cell of the node. */
  cellUrls(): Promise<string[]>;
  /** POSTs JSON (or nothing) to Restate ingress. */
  call(urlPath: string, body?: unknown): Promise<{ status: number; text: string; json: unknown }>;
  /** SIGTERM to the launcher; resolves with its exit code once it (and so the mesh) is gone. */
  stop(): Promise<number | null>;
  /** Resolves with the launcher's exit code when it exits on its own (e.g. after a crash). */
  exited: Promise<number | null>;
}

export async function startGridiron(opts: {
  dataDir: string;
  bundlesDir: string;
  ports: MeshPorts;
  logFile: string;
  readyTimeoutMs?: number;
  /** Extra environment (e.g. GRIDIRON_DRAIN_GRACE_MS) on top of meshEnv(). */
  env?: Record<string, string>;
  /** Extra `gridiron up` arguments. */
  args?: string[];
}): Promise<RunningMesh> {
  const log = createWriteStream(opts.logFile, { flags: "a" });
  const child: ChildProcess = spawn(process.execPath, [GRIDIRON_BIN, "up", ...(opts.args ?? [])], {
    cwd: REPO,
    env: { ...meshEnv(opts.dataDir, opts.bundlesDir, opts.ports), ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));

  const http = new HttpClient();
  const apiUrl = `http://127.0.0.1:${opts.ports.api}`;
  const ingressUrl = `http://127.0.0.1:${opts.ports.ingress}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (gone) throw new Error(`gridiron up exited during start-up; log:\n${await tailFile(opts.logFile)}`);
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      throw new Error(`gridiron up not ready in time; log:\n${await tailFile(opts.logFile)}`);
    }
    const ok = await http.request(`${apiUrl}/healthz`, { timeoutMs: 1000 }).then((r) => r.status === 200, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    pid: child.pid!,
    exited,
    ports: opts.ports,
    ingressUrl,
    apiUrl,
    logFile: opts.logFile,
    http,
    async status() {
      const r = await http.request(`${apiUrl}/status`);
      return JSON.parse(r.text) as Status;
    },
    async cellUrl(service) {
      const s = JSON.parse((await http.request(`${apiUrl}/status`)).text) as Status;
      return (s.workerd.cells?.find((c) => c.versions.some((k) => k.startsWith(`${service}/`)))?.url ?? s.workerd.url).replace("//0.0.0.0:", "//127.0.0.1:");
    },
    async cellUrls() {
      const s = JSON.parse((await http.request(`${apiUrl}/status`)).text) as Status;
      return (s.workerd.cells?.map((c) => c.url) ?? [s.workerd.url]).map((u) => u.replace("//0.0.0.0:", "//127.0.0.1:"));
    },
    async call(urlPath, body) {
      const r = await http.request(`${ingressUrl}${urlPath}`, {
        method: "POST",
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let json: unknown;
      try {
        json = JSON.parse(r.text);
      } catch {
        json = undefined;
      }
      return { ...r, json };
    },
    async stop() {
      // Our keep-alive connections close from our side first (see reconciler/http-client.ts).
      http.close();
      if (!gone) child.kill("SIGTERM");
      const code = await exited;
      log.end();
      return code;
    },
  };
}

/** Polls `probe` until it returns a value that is not undefined, or throws with the last state. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Processes that belong to the mesh using `dir`: command line or working directory inside it, or
 * GRIDIRON_DATA_DIR=dir in the environment (launcher, daemon, restate-server and workerd all carry it).
 */
export async function processesUnder(dir: string): Promise<{ pid: number; cmd: string }[]> {
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = (await readFile(`/proc/${entry}/cmdline`, "utf8")).split("\0").join(" ");
      const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => "");
      const env = await readFile(`/proc/${entry}/environ`, "utf8").catch(() => "");
      if (cmd.includes(dir) || cwd.startsWith(dir) || env.split("\0").includes(`GRIDIRON_DATA_DIR=${dir}`)) out.push({ pid: Number(entry), cmd: cmd.slice(0, 200) });
    } catch {
      /* exited while we looked */
    }
  }
  return out;
}

/**
 * The pid of the daemon a `gridiron up` launcher started. SIGKILL of the daemon is a crash of the
 * node (the launcher then kills what it left); SIGKILL of the launcher is not: the daemon notices
 * and stops cleanly.
 */
export async function daemonPid(launcherPid: number): Promise<number> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === launcherPid && (await readFile(`/proc/${entry}/cmdline`, "utf8")).includes("__daemon")) return Number(entry);
    } catch {
      /* exited while we looked */
    }
  }
  throw new Error(`no gridiron daemon under launcher ${launcherPid}`);
}

export async function tailFile(file: string, lines = 60): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.trim().split("\n").slice(-lines).join("\n");
}

/**
 * After a crash the launcher SIGKILLs the daemon's process group; the killed servers are reaped
 * by init a moment later. Waits (bounded) until none is left, and returns what is still there.
 */
export async function settledProcessesUnder(dir: string, timeoutMs = 10_000): Promise<{ pid: number; cmd: string }[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await processesUnder(dir);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}
