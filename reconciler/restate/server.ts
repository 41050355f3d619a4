// The one owner of the restate-server process: start, wait for /health, stop by pid.
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { connect } from "node:net";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import type { Logger } from "pino";
import { GridironError } from "../core/errors.ts";
import { RestateAdmin } from "./admin.ts";

export interface RestateServerOptions {
  logger: Logger;
  baseDir: string;
  configFile?: string;
  host: string;
  ingressPort: number;
  adminPort: number;
  /** Node-to-node (fabric) port; restate binds it even on a single node. */
  nodePort: number;
  readyTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** How long to keep retrying while a port is still held; default 75 s (TIME_WAIT is 60 s). */
  portWaitMs?: number;
  /** Ed25519 PEM key restate-server signs every request to a deployment with (request identity). */
  requestIdentityKeyFile?: string;
}

/**
 * The native binary inside the platform package, resolved the way the npm wrapper does: spawning
 * the wrapper would put a Node process between us and the pid we must stop.
 */
export function restateServerBin(): string {
  return restateNativeBin("restate-server");
}

/** Same for any of Restate's npm-packaged binaries (`restate-server`, `restatectl`). */
export function restateNativeBin(name: "restate-server" | "restatectl"): string {
  // Resolve from the wrapper package, whose optional dependency the platform package is.
  const fromWrapper = createRequire(createRequire(import.meta.url).resolve(`@restatedev/${name}/package.json`));
  return fromWrapper.resolve(`@restatedev/${name}-${process.platform}-${process.arch}/bin/${name}`);
}

export interface RestateServerEvents {
  crash: [{ pid: number | undefined; code: number | null; signal: NodeJS.Signals | null; restartInMs: number }];
  restart: [{ pid: number | undefined; attempt: number; downMs: number }];
}

/**
 * Supervises restate-server: a crash is followed by a restart on the same base dir (backoff
 * 0.5 s doubling to 10 s); Restate's own durability (RocksDB + its log) makes that safe.
 */
export class RestateServer extends EventEmitter<RestateServerEvents> {
  readonly #opts: RestateServerOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<void> | undefined;
  #stopping = false;
  #ready = false;
  #crashes = 0;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(opts: RestateServerOptions) {
    super();
    this.#opts = opts;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }
  get adminUrl(): string {
    return `http://${this.#opts.host}:${this.#opts.adminPort}`;
  }
  get ingressUrl(): string {
    return `http://${this.#opts.host}:${this.#opts.ingressPort}`;
  }

  /**
   * restate-server binds without SO_REUSEADDR: right after a previous server on the same ports
   * closed connections itself, the kernel keeps them in TIME_WAIT (60 s) and the bind fails. That
   * clears by itself, so "Address in use" is retried until it does, saying so in the log.
   */
  async start(): Promise<void> {
    const deadline = Date.now() + (this.#opts.portWaitMs ?? 75_000);
    for (let attempt = 1; ; attempt++) {
      await this.#refuseTakenPorts();
      try {
        return await this.#startOnce();
      } catch (err) {
        const inUse = err instanceof GridironError && /Address in use|address already in use/i.test(err.message);
        if (!inUse || Date.now() > deadline) throw err;
        this.#opts.logger.warn({ component: "restate-server", attempt, err: err.message },
          "a restate port is still held (TIME_WAIT after a recent shutdown, or another process); retrying");
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  /**
   * A port something already *listens* on is another server (another mesh, most likely): fail at
   * once, because its /health would answer for ours and we would run against the wrong Restate.
   * A port merely held in TIME_WAIT refuses connections and is left to the retry above.
   */
  async #refuseTakenPorts(): Promise<void> {
    const o = this.#opts;
    for (const [what, port] of [["ingress", o.ingressPort], ["admin", o.adminPort], ["node", o.nodePort]] as const) {
      const listening = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: o.host, port });
        socket.once("connect", () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
        socket.setTimeout(1000, () => {
          socket.destroy();
          resolve(false);
        });
      });
      if (listening) {
        throw new GridironError("RESTATE_PORT_TAKEN",
          `restate-server's ${what} port ${o.host}:${port} is already taken by another process (another mesh?); stop it or choose other ports (GRIDIRON_INGRESS_PORT, GRIDIRON_ADMIN_PORT, GRIDIRON_RESTATE_NODE_PORT)`,
          { port, what });
      }
    }
  }

  async #startOnce(): Promise<void> {
    const o = this.#opts;
    this.#ready = false;
    const log = o.logger.child({ component: "restate-server" });
    await mkdir(o.baseDir, { recursive: true });
    const args = ["--no-logo"];
    if (o.configFile) args.push("--config-file", o.configFile);
    const child = spawn(restateServerBin(), args, {
      cwd: o.baseDir,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        RESTATE_BASE_DIR: o.baseDir,
        RESTATE_LISTEN_MODE: "tcp",
        RESTATE_BIND_IP: o.host,
        RESTATE_BIND_PORT: String(o.nodePort),
        RESTATE_ADVERTISED_HOST: o.host,
        RESTATE_INGRESS__BIND_ADDRESS: `${o.host}:${o.ingressPort}`,
        RESTATE_ADMIN__BIND_ADDRESS: `${o.host}:${o.adminPort}`,
        ...(o.requestIdentityKeyFile ? { RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE: o.requestIdentityKeyFile } : {}),
      },
    });
    this.#child = child;
    const tail: string[] = [];
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        forwardLine(log, line);
      });
    }
    this.#exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        if (!this.#stopping) log.error({ code, signal }, "restate-server exited unexpectedly");
        resolve();
        if (!this.#stopping && this.#ready && this.#child === child) this.#scheduleRestart(child.pid, code, signal);
      });
    });
    log.info({ pid: child.pid, ingress: this.ingressUrl, admin: this.adminUrl, baseDir: o.baseDir }, "starting restate-server");

    const admin = new RestateAdmin(this.adminUrl);
    const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
    try {
      await this.#waitHealthy(admin, child, deadline, tail);
    } finally {
      admin.close();
    }
    log.info({ pid: child.pid }, "restate-server ready");
    this.#ready = true;
  }

  #scheduleRestart(pid: number | undefined, code: number | null, signal: NodeJS.Signals | null): void {
    const delay = Math.min(10_000, 500 * 2 ** Math.min(this.#crashes, 5));
    this.#crashes++;
    const down = Date.now();
    this.emit("crash", { pid, code, signal, restartInMs: delay });
    this.#restartTimer = setTimeout(() => {
      if (this.#stopping) return;
      this.start().then(
        () => {
          this.#crashes = 0;
          this.#opts.logger.info({ component: "restate-server", pid: this.pid, downMs: Date.now() - down }, "restate-server restarted on the same data dir");
          this.emit("restart", { pid: this.pid, attempt: this.#crashes, downMs: Date.now() - down });
        },
        (err: unknown) => {
          this.#opts.logger.error({ component: "restate-server", err: (err as Error).message }, "restate-server restart failed; retrying");
          this.#scheduleRestart(undefined, null, null);
        },
      );
    }, delay);
  }

  async #waitHealthy(admin: RestateAdmin, child: ChildProcess, deadline: number, tail: string[]): Promise<void> {
    let exited = false;
    void this.#exited!.then(() => (exited = true));
    // /health answers before the partitions are up; the SQL endpoint (which the reconciler needs
    // for drains) fails with "node lookup for partition N failed" until they are.
    while (!(await admin.health()) || !(await admin.query("SELECT id FROM sys_invocation_status LIMIT 1").then(() => true, () => false))) {
      if (exited) {
        throw new GridironError("RESTATE_START", `restate-server exited during start-up (exit code ${child.exitCode}): ${tail.slice(-5).join(" | ")}`);
      }
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        await this.#exited;
        throw new GridironError("RESTATE_START", `restate-server did not become healthy at ${this.adminUrl}: ${tail.slice(-5).join(" | ")}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM, then SIGKILL after the deadline. Safe to call twice; no restart after it. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), this.#opts.stopTimeoutMs ?? 20_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** restate-server logs JSON lines (config/restate.toml); keep their fields, map their level. */
function forwardLine(log: Logger, line: string): void {
  if (!line.trim()) return;
  try {
    const entry = JSON.parse(line) as { level?: string; fields?: { message?: string }; target?: string };
    const level = (entry.level ?? "INFO").toLowerCase();
    const msg = entry.fields?.message ?? line;
    const fn = level === "error" ? log.error : level === "warn" ? log.warn : level === "debug" || level === "trace" ? log.debug : log.info;
    fn.call(log, { target: entry.target }, msg);
  } catch {
    log.info(line);
  }
}
