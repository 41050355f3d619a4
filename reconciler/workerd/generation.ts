// One workerd child process (a generation): spawn with `serve --control-fd`, forward its output to
// the log, wait for its control-fd `listen` line (racing its exit and a timeout), signal it, and
// tell a requested exit from a crash. The supervisor (process.ts) and the scratch workerd
// (scratch.ts) are built on it; nothing else spawns workerd.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { GridironError, type ErrorCode } from "../core/errors.ts";
import { killOnExit } from "./children.ts";
import { describeEvent, EventBuffer, forwardLine, type OutputPolicy } from "./output.ts";
import { mapStack, type SourceMapLookup } from "./stack.ts";

/** Where every generation finds the inherited listening socket (`--socket-fd <name>=3`). */
const SOCKET_FD = 3;
/** Where workerd writes its JSON control messages (`--control-fd=4`). */
const CONTROL_FD = 4;
const STDERR_TAIL_CHARS = 4096;

export type WorkerdSocket = { fd: number } | { address: string };

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface GenerationOptions {
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
  /** Which of workerd's output lines are logged (all of them go to the stderr tail). */
  output: OutputPolicy;
  /** Where the source maps of the versions it serves are: logged stacks then name the sources. */
  sourceMaps?: SourceMapLookup;
}

/** One workerd child process: spawn, control-fd readiness, logs, stderr tail, signals, exit. */
export class Generation {
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
    if (this.#child.pid !== undefined) killOnExit(this.#child);
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
    // One log event per console call or uncaught error, not one per line (see output.ts).
    const logEvent = (stream: "stdout" | "stderr") => (lines: string[]) => {
      if (!forwardLine(lines[0]!, o.output)) return;
      const { level, message, stack, ...about } = describeEvent(lines, stream);
      const mapped = stack !== undefined && o.sourceMaps ? mapStack(stack, o.sourceMaps) : stack;
      log[level]({ ...about, ...(mapped !== undefined ? { stack: mapped } : {}) }, message);
    };
    if (stdout) {
      const events = new EventBuffer(logEvent("stdout"));
      createInterface({ input: stdout, crlfDelay: Infinity }).on("line", (line) => events.push(line)).on("close", () => events.close());
    }
    if (stderr) {
      const events = new EventBuffer(logEvent("stderr"));
      createInterface({ input: stderr, crlfDelay: Infinity }).on("line", (line) => {
        this.#stderr = (this.#stderr + line + "\n").slice(-STDERR_TAIL_CHARS);
        events.push(line);
      }).on("close", () => events.close());
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
