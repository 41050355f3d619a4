// The one owner of the serving workerd. Nothing else in Gridiron spawns or signals workerd (one
// child process is a Generation, generation.ts; a throwaway one for validation is scratch.ts).
//
// A `WorkerdProcess` serves one listening socket through a chain of generations: `swap()` starts
// generation N+1 on the same socket (an fd inherited from the launcher, `--socket-fd http=3`),
// waits for its control-fd `listen` event, then SIGTERMs generation N, which stops accepting,
// finishes its in-flight requests and exits (SIGKILL after `drainTimeoutMs`). Until N+1 is
// listening, N is not touched, so a broken config never takes the serving generation down.
// An exit we did not ask for is a crash: the last good config is restarted with backoff.
// `replace()` is the watchdog's kill (watchdog.ts): the serving generation is SIGKILLed and
// restarted from the last good config at once, without growing the crash backoff.
//
// Loader mode: given `controlDir`, each generation also listens on its own unix socket there
// (`--socket-addr control=unix:<dir>/g<N>.sock`), and `update()` replaces the serving generation's
// live set through it without starting a new one.
import { EventEmitter } from "node:events";
import path from "node:path";
import type { Logger } from "pino";
import { GridironError } from "../core/errors.ts";
import { HttpClient } from "../core/http-client.ts";
import { resolveWorkerdBinary } from "./binary.ts";
import { putJson } from "./control.ts";
import { Generation, type ExitInfo, type WorkerdSocket } from "./generation.ts";
import type { OutputPolicy } from "./output.ts";
import { storeSourceMaps } from "./source-maps.ts";
import type { SourceMapLookup } from "./stack.ts";

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
  /**
   * The config's router verifies every request's Restate signature (request identity on): the
   * Restate SDK's warning that a bundle does not is then dropped from workerd's logged output
   * (see output.ts). Default false: every line is logged.
   */
  routerVerifies?: boolean;
  /**
   * The version store's root (`<data>/versions`): stacks in workerd's logged output are mapped
   * through the source maps of the versions they name. Default: logged as workerd wrote them.
   */
  versionsDir?: string;
}

export interface WorkerdProcessEvents {
  /** A generation is listening and is now the serving one. */
  ready: [{ generation: number; pid: number; port: number }];
  /** The serving generation exited without being asked to; a restart follows after `restartInMs`. */
  crash: [{ generation: number; pid: number; code: number | null; signal: NodeJS.Signals | null; stderrTail: string; restartInMs: number; upMs: number }];
  /** `replace()` SIGKILLed the serving generation; a restart follows at once. */
  replace: [{ generation: number; pid: number; reason: string }];
  /** A crashed or replaced generation was restarted (with the last good config) and is listening. */
  restart: [{ generation: number; pid: number; port: number; attempt: number; cause: "crash" | "replace" }];
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
  output: OutputPolicy;
  sourceMaps: SourceMapLookup | undefined;
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
  /** Generations being launched (start, swap, restart): the socket is changing hands. */
  #launching = 0;
  /** Serving generations `replace()` killed, and why: their exit is restarted at once. */
  readonly #replaced = new WeakMap<Generation, string>();

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
      output: { routerVerifies: opts.routerVerifies ?? false },
      sourceMaps: opts.versionsDir === undefined ? undefined : storeSourceMaps(opts.versionsDir),
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

  /**
   * True while one generation serves and none is being launched: a probe then reaches the serving
   * generation and nothing else (the watchdog probes only then).
   */
  get steady(): boolean {
    return this.#current !== undefined && this.#launching === 0 && !this.#stopped;
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
   * Ends the serving generation (SIGTERM, SIGKILL after `drainTimeoutMs`) and forgets its config,
   * so nothing restarts it and a later start() launches afresh: a lane left with nothing to serve
   * gives its memory back.
   */
  rest(): Promise<void> {
    return this.#serialize(async () => {
      this.#assertNotStopped("rest");
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
      this.#lastGoodConfig = undefined;
      const gen = this.#current;
      if (gen !== undefined) await gen.terminate(this.#opts.drainTimeoutMs);
      this.#log.info({ generation: this.#generation }, "workerd at rest: nothing to serve");
    });
  }

  /**
   * SIGKILLs the serving generation (it hangs or outgrew its memory: nothing it holds would finish
   * anyway) and starts a fresh one on the same socket from the last good config as soon as it has
   * exited, like a crash restart but without growing the crash backoff. Not serialized: a hung
   * generation may be what a queued update() waits on. Returns what was killed, or undefined when
   * nothing serves (not started, crashed and awaiting its restart, or stopped).
   */
  replace(reason: string): { generation: number; pid: number } | undefined {
    const gen = this.#current;
    if (gen === undefined || this.#stopped || this.#replaced.has(gen)) return undefined;
    this.#replaced.set(gen, reason);
    this.#log.warn({ generation: gen.n, pid: gen.pid, reason }, "workerd generation killed to be replaced");
    void gen.terminate(0);
    this.emit("replace", { generation: gen.n, pid: gen.pid, reason });
    return { generation: gen.n, pid: gen.pid };
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
    this.#launching++;
    try {
      return await gen.waitListening(this.#opts.readyTimeoutMs);
    } catch (err) {
      if (this.#stopped) {
        throw new GridironError("WORKERD_STOPPED", `workerd generation ${n} aborted by stop()`, { configPath }, { cause: err });
      }
      throw err;
    } finally {
      this.#launching--;
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
    if (this.#stopped) return;
    if (this.#replaced.has(gen)) {
      this.#scheduleRestart(0, "replace");
      return;
    }
    if (requested) return;
    // The serving generation died on its own.
    const upMs = Date.now() - (gen.listeningAt ?? Date.now());
    if (upMs >= this.#opts.backoff.resetAfterMs) this.#consecutiveCrashes = 0;
    const restartInMs = this.#nextBackoff();
    const stderrTail = gen.stderrTail();
    this.#log.error({ generation: gen.n, pid: gen.pid, ...exit, upMs, restartInMs, stderrTail }, "workerd crashed");
    this.emit("crash", { generation: gen.n, pid: gen.pid, ...exit, stderrTail, restartInMs, upMs });
    this.#scheduleRestart(restartInMs, "crash");
  }

  #nextBackoff(): number {
    const { initial, max } = this.#opts.backoff;
    const delay = Math.min(max, initial * 2 ** Math.min(this.#consecutiveCrashes, 30));
    this.#consecutiveCrashes++;
    return delay;
  }

  #scheduleRestart(delayMs: number, cause: "crash" | "replace"): void {
    if (this.#stopped) return;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      void this.#serialize(() => this.#restart(cause));
    }, delayMs);
  }

  async #restart(cause: "crash" | "replace"): Promise<void> {
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
      this.#scheduleRestart(retryInMs, "crash");
      return;
    }
    this.#promote(gen);
    this.#log.warn({ generation: gen.n, pid: gen.pid, attempt, cause }, cause === "crash" ? "workerd restarted after crash" : "workerd replaced");
    this.emit("restart", { generation: gen.n, pid: gen.pid, port: gen.port, attempt, cause });
  }
}
