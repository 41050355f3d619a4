// A whole Gridiron node for the benchmark: `gridiron up` on free loopback ports, configured like
// the end-to-end tests' mesh (test/helpers/mesh.ts: meshEnv, allocatePorts), plus what the
// benchmark reads from it (the JSON log, workerd's memory). Unlike the test helper, the mesh's
// output goes straight to a file, not through a pipe into this process: the load generator runs
// here, and relaying the mesh's log lines (two per invocation from the SDK) would tax it.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import path from "node:path";
import { HttpClient } from "../../reconciler/core/http-client.ts";
import type { Status } from "../../reconciler/reconcile/status.ts";
import { GRIDIRON_BIN, REPO, allocatePorts, meshEnv, tailFile, waitFor } from "../../test/helpers/mesh.ts";
import type { Cleanup } from "./cleanup.ts";

export { waitFor };

export interface BenchMesh {
  pid: number;
  dataDir: string;
  bundlesDir: string;
  logFile: string;
  log: MeshLog;
  ingressUrl: string;
  adminUrl: string;
  apiUrl: string;
  workerdUrl: string;
  /** Wall time from spawn to the API's /healthz answering. */
  startMs: number;
  http: HttpClient;
  status(): Promise<Status>;
  /** POSTs JSON (or nothing) to Restate ingress. */
  call(urlPath: string, body?: unknown): Promise<{ status: number; text: string }>;
  /** SIGTERM to the launcher (which stops workerd and restate-server in order); safe to call twice. */
  stop(): Promise<void>;
}

/** Where the mesh called `name` keeps its state and watches for bundles (fill bundlesDir before starting). */
export function meshDirs(root: string, name: string): { dataDir: string; bundlesDir: string } {
  return { dataDir: path.join(root, `${name}-data`), bundlesDir: path.join(root, `${name}-bundles`) };
}

const STOP_GRACE_MS = 30_000;

/**
 * `env` goes on top of the defaults: the periodic resync (default every 30 s) is pushed out by an
 * hour, because a pass inside a timed window is measured as part of whatever it overlaps.
 */
export async function startBenchMesh(root: string, name: string, cleanup: Cleanup, env: Record<string, string> = {}): Promise<BenchMesh> {
  const { dataDir, bundlesDir } = meshDirs(root, name);
  // Room for the lanes the mesh will have: the daemon's default unless the env says.
  const ports = await allocatePorts(env.GRIDIRON_LANES === undefined ? undefined : Number(env.GRIDIRON_LANES));
  const logFile = path.join(root, `${name}.log`);
  const fd = openSync(logFile, "a");
  const t0 = performance.now();
  const child = spawn(process.execPath, [GRIDIRON_BIN, "up"], {
    cwd: REPO,
    env: { ...meshEnv(dataDir, bundlesDir, ports), GRIDIRON_RESYNC_MS: "3600000", ...env },
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const pid = child.pid!;
  cleanup.trackPid(pid, "SIGTERM");
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const http = new HttpClient();
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      http.close();
      if (!gone) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      cleanup.untrackPid(pid);
    })());
  cleanup.add(`mesh ${name}`, stop);

  const apiUrl = `http://127.0.0.1:${ports.api}`;
  const ingressUrl = `http://127.0.0.1:${ports.ingress}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (gone) throw new Error(`gridiron up exited during start-up; log:\n${await tailFile(logFile)}`);
    if (Date.now() > deadline) throw new Error(`gridiron up not ready in 90 s; log:\n${await tailFile(logFile)}`);
    const ok = await http.request(`${apiUrl}/healthz`, { timeoutMs: 1000 }).then((r) => r.status === 200, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const startMs = performance.now() - t0;

  return {
    pid,
    dataDir,
    bundlesDir,
    logFile,
    log: new MeshLog(logFile),
    ingressUrl,
    adminUrl: `http://127.0.0.1:${ports.admin}`,
    apiUrl,
    workerdUrl: `http://127.0.0.1:${ports.workerd}`,
    startMs,
    http,
    async status() {
      const r = await http.request(`${apiUrl}/status`);
      return JSON.parse(r.text) as Status;
    },
    call(urlPath, body) {
      return http.request(`${ingressUrl}${urlPath}`, {
        method: "POST",
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    },
    stop,
  };
}

export interface LogEvent {
  time: number;
  msg: string;
  level: number;
  component?: string;
  pass?: number;
  [key: string]: unknown;
}

/**
 * The mesh's JSON log (pino), read incrementally. Lines of component "workerd" (workerd's own
 * stdout/stderr: the SDK logs two per invocation) are counted, not kept.
 */
export class MeshLog {
  readonly file: string;
  readonly #events: LogEvent[] = [];
  #offset = 0;
  #partial = "";
  workerdLines = 0;

  constructor(file: string) {
    this.file = file;
  }

  /** Events at or after `since` (ms since epoch), after reading what was appended. */
  async events(since = 0): Promise<LogEvent[]> {
    await this.#refresh();
    return this.#events.filter((e) => e.time >= since);
  }

  async #refresh(): Promise<void> {
    const handle = await open(this.file, "r");
    try {
      const { size } = await handle.stat();
      if (size <= this.#offset) return;
      const buf = Buffer.alloc(size - this.#offset);
      const { bytesRead } = await handle.read(buf, 0, buf.length, this.#offset);
      this.#offset += bytesRead;
      const lines = (this.#partial + buf.subarray(0, bytesRead).toString("utf8")).split("\n");
      this.#partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        if (line.includes('"component":"workerd",')) {
          this.workerdLines++;
          continue;
        }
        try {
          const e = JSON.parse(line) as LogEvent;
          if (typeof e.time === "number") this.#events.push(e);
        } catch {
          /* not JSON after all */
        }
      }
    } finally {
      await handle.close();
    }
  }
}

/** Resident set size of a process in MB, from /proc/<pid>/status (VmRSS). */
export async function rssMb(pid: number): Promise<number | undefined> {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Waits until the reconciler is idle: every "reconcile pass started" in the log has its "done",
 * and nothing new started for `quietMs` (longer than the folder watcher's debounce window).
 */
export async function settle(log: MeshLog, quietMs = 500, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastCount = -1;
  for (;;) {
    const events = await log.events();
    const started = events.filter((e) => e.msg === "reconcile pass started").length;
    const done = events.filter((e) => e.msg === "reconcile pass done").length;
    if (started === done && started === lastCount) return;
    if (Date.now() > deadline) throw new Error(`the reconciler did not settle within ${timeoutMs} ms`);
    lastCount = started === done ? started : -1;
    await new Promise((r) => setTimeout(r, quietMs));
  }
}
