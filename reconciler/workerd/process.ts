// The one owner of workerd processes. Nothing else in Gridiron spawns or signals workerd.
//
// A `WorkerdProcess` serves one listening socket through a chain of generations: `swap()` starts
// generation N+1 on the same socket (an fd inherited from the launcher, `--socket-fd http=3`),
// waits for its control-fd `listen` event, then SIGTERMs generation N, which stops accepting,
// finishes its in-flight requests and exits (SIGKILL after `drainTimeoutMs`). Until N+1 is
// listening, N is not touched, so a broken config never takes the serving generation down.
// An exit we did not ask for is a crash: the last good config is restarted with backoff.
//
// Loader mode: given `controlDir`, each generation also listens on its own unix socket there
// (`--socket-addr control=unix:<dir>/g<N>.sock`), and `update()` replaces the serving generation's
// live set through it without starting a new one.
//
// `startScratchWorkerd()` runs one throwaway instance on 127.0.0.1:0 to validate a bundle before
// it goes near the serving generation.
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { GridironError, type ErrorCode } from "../core/errors.ts";
import { HttpClient } from "../core/http-client.ts";

/** Where every generation finds the inherited listening socket (`--socket-fd <name>=3`). */
const SOCKET_FD = 3;
/** Where workerd writes its JSON control messages (`--control-fd=4`). */
const CONTROL_FD = 4;
const STDERR_TAIL_CHARS = 4096;
const SCRATCH_STOP_GRACE_MS = 2000;

export type WorkerdSocket = { fd: number } | { address: string };

export interface WorkerdProcessOptions {
  /** workerd stdout/stderr lines are logged with {component: "workerd", generation, pid}. */
  logger: Logger;
  /** An inherited listening fd (production) or an address such as "127.0.0.1:0". */
  socket: WorkerdSocket;
  /** Name of the config's socket that `socket` overrides; default "http". */
  socketName?: string;
  /** The config file is binary Cap'n Proto (`serve --binary`); default true. */
  binary?: boolean;
  /** How long a generation may take to report `listen`; default 15000. */
  readyTimeoutMs?: number;
  /** SIGKILL a generation this long after SIGTERM; default 10000. */
  drainTimeoutMs?: number;
  /**
   * Crash restart backoff: doubles per consecutive crash from `initial` up to `max`; the count
   * resets when a generation had been listening for `resetAfterMs` (default 30000) before it died.
   * Default 250 → 10000.
   */
  restartBackoffMs?: { initial: number; max: number; resetAfterMs?: number };
  /** Appended to `workerd serve`, e.g. ["--experimental"]. */
  extraArgs?: string[];
  /** The workerd executable; default: the binary of the installed `workerd` npm package. */
  workerdPath?: string;
  /**
   * A private directory (short path: unix socket paths are limited to 107 bytes) for each
   * generation's control socket; the config must have a socket named "control". Loader mode only.
   */
  controlDir?: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WorkerdProcessEvents {
  /** A generation is listening and is now the serving one. */
  ready: [{ generation: number; pid: number; port: number }];
  /** The serving generation exited without being asked to; a restart follows after `restartInMs`. */
  crash: [{ generation: number; pid: number; code: number | null; signal: NodeJS.Signals | null; stderrTail: string; restartInMs: number }];
  /** A crashed generation was replaced (with the last good config) and is listening. */
  restart: [{ generation: number; pid: number; port: number; attempt: number }];
  /** `swap()` handed the socket from `from` to `to`; `ms` is from the call until `to` listened. */
  swap: [{ from: number; to: number; ms: number }];
  /** `update()` changed the serving generation's live set in place (loader mode). */
  update: [{ generation: number; ms: number }];
  /** Any generation exited; `requested` is true when we had signalled it (drain, stop, timeout). */
  exit: [{ generation: number; pid: number; code: number | null; signal: NodeJS.Signals | null; requested: boolean }];
}

interface ResolvedOptions {
  logger: Logger;
  socket: WorkerdSocket;
  socketName: string;
  binary: boolean;
  readyTimeoutMs: number;
  drainTimeoutMs: number;
  backoff: { initial: number; max: number; resetAfterMs: number };
  extraArgs: string[];
  workerdPath: string;
  controlDir: string | undefined;
}

export class WorkerdProcess extends EventEmitter<WorkerdProcessEvents> {
  readonly #opts: ResolvedOptions;
  readonly #log: Logger;
  /** Every generation that has not exited yet: serving, starting or draining. */
  readonly #live = new Set<Generation>();
  #current: Generation | undefined;
  #generation = 0;
  #spawned = 0;
  #lastGoodConfig: string | undefined;
  /** Loader mode: requests to the generations' control sockets. */
  readonly #control = new HttpClient();
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;
  #stopping: Promise<void> | undefined;
  #consecutiveCrashes = 0;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(opts: WorkerdProcessOptions) {
    super();
    this.#opts = {
      logger: opts.logger,
      socket: opts.socket,
      socketName: opts.socketName ?? "http",
      binary: opts.binary ?? true,
      readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
      drainTimeoutMs: opts.drainTimeoutMs ?? 10_000,
      backoff: {
        initial: opts.restartBackoffMs?.initial ?? 250,
        max: opts.restartBackoffMs?.max ?? 10_000,
        resetAfterMs: opts.restartBackoffMs?.resetAfterMs ?? 30_000,
      },
      extraArgs: opts.extraArgs ?? [],
      workerdPath: opts.workerdPath ?? resolveWorkerdBinary(),
      controlDir: opts.controlDir,
    };
    this.#log = opts.logger.child({ component: "workerd-process" });
  }

  /** pid of the serving generation, if one is up. */
  get pid(): number | undefined {
    return this.#current?.pid;
  }

  /** Number of the serving (or last serving) generation; 0 before the first start. */
  get generation(): number {
    return this.#generation;
  }

  /** Config of the serving (or last serving) generation: the one a crash restarts with. */
  get configPath(): string | undefined {
    return this.#lastGoodConfig;
  }

  /** Starts the first generation; rejects (with workerd's stderr) if it exits before listening. */
  start(configPath: string): Promise<{ port: number }> {
    return this.#serialize(async () => {
      this.#assertNotStopped("start");
      if (this.#lastGoodConfig !== undefined) {
        throw new GridironError("WORKERD_ALREADY_STARTED", "workerd is already started: use swap()", { configPath });
      }
      const gen = await this.#launch(configPath);
      this.#promote(gen);
      return { port: gen.port };
    });
  }

  /**
   * Starts generation N+1 on the same socket and, once it listens, drains generation N. If N+1
   * fails, N keeps serving untouched and the returned promise rejects with workerd's stderr.
   */
  swap(configPath: string): Promise<{ port: number; ms: number }> {
    return this.#serialize(async () => {
      this.#assertNotStopped("swap");
      if (this.#lastGoodConfig === undefined) {
        throw new GridironError("WORKERD_NOT_STARTED", "workerd swap() before start()", { configPath });
      }
      const t0 = performance.now();
      const from = this.#generation;
      const gen = await this.#launch(configPath);
      const ms = Math.round(performance.now() - t0);
      const old = this.#current;
      // A crash of the old generation during the launch scheduled a restart: this one replaces it.
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
      this.#promote(gen);
      if (old !== undefined) void old.terminate(this.#opts.drainTimeoutMs);
      this.#log.info({ from, to: gen.n, ms, configPath }, "workerd swapped");
      this.emit("swap", { from, to: gen.n, ms });
      return { port: gen.port, ms };
    });
  }

  /**
   * Loader mode: replaces the serving generation's live set (a JSON object, see build.ts's
   * liveSet) over its control socket, and makes `configPath` (the same live set as a config) the
   * one a crash restarts with. No new generation; resolves once the router answered.
   */
  update(configPath: string, live: unknown): Promise<{ ms: number }> {
    return this.#serialize(async () => {
      this.#assertNotStopped("update");
      if (this.#lastGoodConfig === undefined) throw new GridironError("WORKERD_NOT_STARTED", "workerd update() before start()", { configPath });
      const t0 = performance.now();
      const gen = this.#current;
      // Crashed, restart pending: the restart reads the new config, which carries the live set.
      if (gen !== undefined) {
        if (gen.controlSocket === undefined) throw new GridironError("WORKERD_NO_CONTROL", "workerd update() needs a controlDir (loader mode)", { configPath });
        await putJson(this.#control, gen.controlSocket, "/live", live, this.#opts.readyTimeoutMs);
      }
      this.#lastGoodConfig = configPath;
      const ms = Math.round(performance.now() - t0);
      this.emit("update", { generation: this.#generation, ms });
      return { ms };
    });
  }

  /**
   * SIGTERMs every generation (SIGKILL after `drainTimeoutMs`) and resolves when all have exited.
   * A start or swap in progress is aborted (it rejects). No restart happens afterwards. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stopped = true;
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
      // Generations are spawned synchronously after a #stopped check, so this set is complete.
      await Promise.all([...this.#live].map((gen) => gen.terminate(this.#opts.drainTimeoutMs)));
      await this.#queue;
      this.#current = undefined;
      this.#control.close();
      this.#log.info("workerd stopped");
    })();
    return this.#stopping;
  }

  #serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #assertNotStopped(what: string): void {
    if (this.#stopped) throw new GridironError("WORKERD_STOPPED", `workerd ${what}() after stop()`);
  }

  /** Spawns the next generation and waits until it listens. Does not make it current. */
  async #launch(configPath: string): Promise<Generation & { port: number }> {
    this.#assertNotStopped("launch");
    const n = ++this.#spawned;
    const controlSocket = this.#opts.controlDir === undefined ? undefined : path.join(this.#opts.controlDir, `g${n}.sock`);
    const gen = new Generation({ ...this.#opts, configPath, label: n, controlSocket });
    this.#live.add(gen);
    void gen.exited.then((exit) => this.#onExit(gen, exit));
    try {
      return await gen.waitListening(this.#opts.readyTimeoutMs);
    } catch (err) {
      if (this.#stopped) {
        throw new GridironError("WORKERD_STOPPED", `workerd generation ${n} aborted by stop()`, { configPath }, { cause: err });
      }
      throw err;
    }
  }

  #promote(gen: Generation & { port: number }): void {
    this.#current = gen;
    this.#generation = gen.n;
    this.#lastGoodConfig = gen.configPath;
    this.emit("ready", { generation: gen.n, pid: gen.pid, port: gen.port });
  }

  #onExit(gen: Generation, exit: ExitInfo): void {
    this.#live.delete(gen);
    const requested = gen.requested;
    this.emit("exit", { generation: gen.n, pid: gen.pid, ...exit, requested });
    if (gen !== this.#current) return;
    this.#current = undefined;
    if (requested || this.#stopped) return;
    // The serving generation died on its own.
    const upMs = Date.now() - (gen.listeningAt ?? Date.now());
    if (upMs >= this.#opts.backoff.resetAfterMs) this.#consecutiveCrashes = 0;
    const restartInMs = this.#nextBackoff();
    const stderrTail = gen.stderrTail();
    this.#log.error({ generation: gen.n, pid: gen.pid, ...exit, upMs, restartInMs, stderrTail }, "workerd crashed");
    this.emit("crash", { generation: gen.n, pid: gen.pid, ...exit, stderrTail, restartInMs });
    this.#scheduleRestart(restartInMs);
  }

  #nextBackoff(): number {
    const { initial, max } = this.#opts.backoff;
    const delay = Math.min(max, initial * 2 ** Math.min(this.#consecutiveCrashes, 30));
    this.#consecutiveCrashes++;
    return delay;
  }

  #scheduleRestart(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      void this.#serialize(() => this.#restart());
    }, delayMs);
  }

  async #restart(): Promise<void> {
    const configPath = this.#lastGoodConfig;
    // A swap or another restart got there first, or we are shutting down.
    if (this.#stopped || this.#current !== undefined || configPath === undefined) return;
    const attempt = this.#consecutiveCrashes;
    let gen: Generation & { port: number };
    try {
      gen = await this.#launch(configPath);
    } catch (err) {
      if (this.#stopped) return;
      const retryInMs = this.#nextBackoff();
      this.#log.error({ err, configPath, attempt, retryInMs }, "workerd restart failed");
      this.#scheduleRestart(retryInMs);
      return;
    }
    this.#promote(gen);
    this.#log.warn({ generation: gen.n, pid: gen.pid, attempt }, "workerd restarted after crash");
    this.emit("restart", { generation: gen.n, pid: gen.pid, port: gen.port, attempt });
  }
}

/**
 * PUT a JSON body to a generation's control socket. workerd reports `listen` per socket, so the
 * control socket may come up a moment after the HTTP one: a missing socket is retried briefly.
 */
async function putJson(client: HttpClient, socketPath: string, urlPath: string, body: unknown, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await client.request(`http://workerd${urlPath}`, { method: "PUT", socketPath, headers: { "content-type": "application/json" }, body: JSON.stringify(body), timeoutMs });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== "ENOENT" && code !== "ECONNREFUSED") || Date.now() > deadline) {
        throw new GridironError("WORKERD_CONTROL", `workerd control socket ${socketPath}: ${(err as Error).message}`, { socketPath }, { cause: err });
      }
      await new Promise((r) => setTimeout(r, Math.min(50, 5 * 2 ** attempt)));
      continue;
    }
    if (res.status !== 200) throw new GridironError("WORKERD_CONTROL", `workerd control ${urlPath} answered ${res.status}: ${res.text.slice(0, 200)}`, { socketPath });
    return;
  }
}

export interface ScratchWorkerd {
  port: number;
  pid: number;
  /** Everything workerd wrote to stderr so far (the last few KB). */
  stderr(): string;
  /** SIGTERM, SIGKILL after a short grace; resolves when it exited. Idempotent. */
  stop(): Promise<void>;
}

/**
 * One throwaway workerd on 127.0.0.1:0, to validate a config before it goes near the serving
 * generation. Rejects with workerd's stderr if it exits before listening or times out.
 */
export async function startScratchWorkerd(
  configPath: string,
  opts: { logger: Logger; binary?: boolean; timeoutMs?: number; extraArgs?: string[]; workerdPath?: string; socketName?: string },
): Promise<ScratchWorkerd> {
  const gen = new Generation({
    logger: opts.logger,
    socket: { address: "127.0.0.1:0" },
    socketName: opts.socketName ?? "http",
    binary: opts.binary ?? true,
    extraArgs: opts.extraArgs ?? [],
    workerdPath: opts.workerdPath ?? resolveWorkerdBinary(),
    configPath,
    label: "scratch",
  });
  const { port } = await gen.waitListening(opts.timeoutMs ?? 15_000);
  let stopping: Promise<void> | undefined;
  return {
    port,
    pid: gen.pid,
    stderr: () => gen.stderrTail(),
    stop() {
      stopping ??= gen.terminate(SCRATCH_STOP_GRACE_MS).then(() => undefined);
      return stopping;
    },
  };
}

/** The workerd executable of the installed npm package (its main module exports the path). */
export function resolveWorkerdBinary(): string {
  const require = createRequire(import.meta.url);
  try {
    const mod = require("workerd") as { default?: unknown };
    if (typeof mod.default === "string") return mod.default;
  } catch {
    // fall through to the package's bin entry
  }
  const pkgJson = require.resolve("workerd/package.json");
  const pkg = JSON.parse(readFileSync(pkgJson, "utf8")) as { bin?: string | Record<string, string> };
  const bin = typeof pkg.bin === "string" ? pkg.bin : pkg.bin?.["workerd"];
  if (bin === undefined) throw new GridironError("WORKERD_NOT_FOUND", `no workerd binary in ${pkgJson}`);
  return path.join(path.dirname(pkgJson), bin);
}

/**
 * Every workerd child still running in this process. If the process exits without stop() (an
 * uncaught exception, process.exit()), they are SIGKILLed rather than left serving, orphaned, on
 * the shared socket. (Nothing runs when the process is SIGKILLed; that case still orphans them.)
 */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once("close", () => liveChildren.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of liveChildren) c.kill("SIGKILL");
  });
}

interface GenerationOptions {
  logger: Logger;
  socket: WorkerdSocket;
  socketName: string;
  binary: boolean;
  extraArgs: string[];
  workerdPath: string;
  configPath: string;
  label: number | "scratch";
  /** Unix socket path for the config's "control" socket. */
  controlSocket?: string;
}

/** One workerd child process: spawn, control-fd readiness, logs, stderr tail, signals, exit. */
class Generation {
  readonly n: number;
  readonly label: number | "scratch";
  readonly configPath: string;
  readonly controlSocket: string | undefined;
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  port: number | undefined;
  listeningAt: number | undefined;
  /** True once we signalled it: its exit is not a crash. */
  requested = false;
  exitInfo: ExitInfo | undefined;
  readonly #child: ChildProcess;
  readonly #listening: Promise<number>;
  #stderr = "";
  #killTimer: NodeJS.Timeout | undefined;
  #spawnError: Error | undefined;

  constructor(o: GenerationOptions) {
    this.label = o.label;
    this.n = typeof o.label === "number" ? o.label : 0;
    this.configPath = o.configPath;
    this.controlSocket = o.controlSocket;
    const fdSocket = "fd" in o.socket;
    const args = [
      "serve",
      ...(o.binary ? ["--binary"] : []),
      o.configPath,
      ...("fd" in o.socket ? ["--socket-fd", `${o.socketName}=${SOCKET_FD}`] : ["--socket-addr", `${o.socketName}=${o.socket.address}`]),
      ...(o.controlSocket === undefined ? [] : ["--socket-addr", `control=unix:${o.controlSocket}`]),
      `--control-fd=${CONTROL_FD}`,
      ...o.extraArgs,
    ];
    // stdio[3]: the inherited listening socket (an integer fd is dup2'ed to 3 in the child).
    this.#child = spawn(o.workerdPath, args, {
      stdio: ["ignore", "pipe", "pipe", "fd" in o.socket ? o.socket.fd : "ignore", "pipe"],
    });
    this.pid = this.#child.pid ?? -1;
    if (this.#child.pid !== undefined) track(this.#child);
    const log = o.logger.child({ component: "workerd", generation: o.label, pid: this.pid });
    log.info({ args, fdSocket }, "workerd spawned");

    this.exited = new Promise<ExitInfo>((resolve) => {
      this.#child.once("error", (err) => {
        // Spawn failure (ENOENT, EACCES…): there is no process and "close" may never come.
        this.#spawnError = err;
        if (this.#child.pid === undefined) resolve({ code: null, signal: null });
      });
      this.#child.once("close", (code, signal) => resolve({ code, signal }));
    }).then((exit) => {
      clearTimeout(this.#killTimer);
      this.exitInfo = exit;
      log.info({ ...exit, requested: this.requested }, "workerd exited");
      return exit;
    });

    const stdout = this.#child.stdio[1] as Readable | null;
    const stderr = this.#child.stdio[2] as Readable | null;
    const control = this.#child.stdio[CONTROL_FD] as Readable | null | undefined;
    if (stdout) createInterface({ input: stdout, crlfDelay: Infinity }).on("line", (line) => log.info(line));
    if (stderr) {
      createInterface({ input: stderr, crlfDelay: Infinity }).on("line", (line) => {
        this.#stderr = (this.#stderr + line + "\n").slice(-STDERR_TAIL_CHARS);
        log.warn(line);
      });
    }
    this.#listening = new Promise<number>((resolve) => {
      if (!control) return;
      createInterface({ input: control, crlfDelay: Infinity }).on("line", (line) => {
        let msg: { event?: unknown; socket?: unknown; port?: unknown };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          log.warn({ line }, "unparsable workerd control message");
          return;
        }
        log.debug({ msg }, "workerd control message");
        if (msg.event === "listen" && msg.socket === o.socketName && typeof msg.port === "number") {
          this.port = msg.port;
          this.listeningAt = Date.now();
          resolve(msg.port);
        }
      });
    });
  }

  stderrTail(): string {
    return this.#stderr;
  }

  /** Resolves once the socket is listening; otherwise kills it and rejects with the stderr tail. */
  async waitListening(timeoutMs: number): Promise<this & { port: number }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    try {
      const outcome = await Promise.race([this.#listening, this.exited, timeout]);
      if (typeof outcome === "number" && this.exitInfo === undefined) return this as this & { port: number };
      if (outcome === "timeout") {
        await this.terminate(0);
        throw this.#startError("WORKERD_READY_TIMEOUT", `did not listen within ${timeoutMs} ms`);
      }
      const exit = this.exitInfo ?? (await this.exited);
      if (this.#spawnError) {
        throw this.#startError("WORKERD_SPAWN_FAILED", `could not be spawned: ${this.#spawnError.message}`);
      }
      const how = exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`;
      // A config workerd refuses (syntax error, bad module) is the input's fault: it needs a change.
      throw this.#startError(this.requested ? "WORKERD_START_ABORTED" : "WORKERD_START_FAILED", `exited before listening (${how})`, exit);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM (drain), SIGKILL after `graceMs` (0: at once); resolves when it exited. */
  terminate(graceMs: number): Promise<ExitInfo> {
    this.requested = true;
    if (this.exitInfo === undefined && this.#child.pid !== undefined) {
      if (graceMs <= 0) {
        this.#child.kill("SIGKILL");
      } else if (this.#killTimer === undefined) {
        this.#child.kill("SIGTERM");
        this.#killTimer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
      }
    }
    return this.exited;
  }

  #startError(code: ErrorCode, what: string, exit?: ExitInfo): GridironError {
    const stderr = this.#stderr.trim();
    const generation = this.label === "scratch" ? "scratch workerd" : `workerd generation ${this.n}`;
    const message = `${generation} ${what} with config ${this.configPath}${stderr ? `:\n${stderr}` : ""}`;
    return new GridironError(code, message, { configPath: this.configPath, pid: this.pid, stderr, ...exit });
  }
}
