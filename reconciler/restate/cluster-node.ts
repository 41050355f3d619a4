// One restate-server of a local cluster: its config file, its process, its log file. The cluster
// (cluster.ts) decides when each node starts and stops; this file only knows how.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { GridironError } from "../core/errors.ts";
import { nodeUrl, type ClusterNodePorts } from "./cluster-config.ts";
import { restateServerBin } from "./server.ts";

/** Lines of the node's log an error message carries. */
const TAIL_LINES = 8;

export class ClusterNode {
  readonly name: string;
  readonly ports: ClusterNodePorts;
  readonly dir: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly #host: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(opts: { name: string; host: string; ports: ClusterNodePorts; dir: string }) {
    this.name = opts.name;
    this.ports = opts.ports;
    this.dir = opts.dir;
    this.#host = opts.host;
    this.configFile = path.join(opts.dir, "restate.toml");
    this.logFile = path.join(opts.dir, "restate.log");
  }

  get ingressUrl(): string {
    return nodeUrl(this.#host, this.ports.ingress);
  }
  get adminUrl(): string {
    return nodeUrl(this.#host, this.ports.admin);
  }
  /** The fabric address other nodes and restatectl use. */
  get nodeUrl(): string {
    return `${nodeUrl(this.#host, this.ports.node)}/`;
  }
  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }
  get running(): boolean {
    const c = this.#child;
    return !!c && c.exitCode === null && c.signalCode === null;
  }

  async writeConfig(toml: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFile(this.configFile, toml);
  }

  /**
   * Spawns restate-server on the written config. Its output goes to the log file (appended, so a
   * restart keeps the story); dev-shell RESTATE_* variables are dropped so they cannot override it.
   */
  async spawn(): Promise<void> {
    if (this.running) throw new GridironError("RESTATE_START", `restate node ${this.name} is already running (pid ${this.#child!.pid})`, { node: this.name });
    await this.#refuseTakenPorts();
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("RESTATE_")) env[k] = v;
    const fd = openSync(this.logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(restateServerBin(), ["--no-logo", "--config-file", this.configFile], { cwd: this.dir, env, stdio: ["ignore", fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.once("error", () => resolve());
    });
  }

  /** True once the process has exited (or never started). */
  async exitedWithin(ms: number): Promise<boolean> {
    if (!this.running) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
    const done = await Promise.race([this.#exited.then(() => true as const), timeout]);
    clearTimeout(timer);
    return done;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone; safe to repeat. */
  async stop(graceMs: number): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** SIGKILL (a crash, for tests); resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    child.kill("SIGKILL");
    await this.#exited;
  }

  /** The last lines of the node's log, for error messages. */
  async tail(lines = TAIL_LINES): Promise<string> {
    const text = await readFile(this.logFile, "utf8").catch(() => "");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** Whether the last exit was restate-server failing to bind a port (retried by the caller). */
  async failedOnAddressInUse(): Promise<boolean> {
    return /address (already )?in use/i.test(await this.tail(30));
  }

  /**
   * A port something already listens on belongs to another server (another cluster, a single-node
   * mesh): its /health would answer for ours, so fail at once and say which port.
   */
  async #refuseTakenPorts(): Promise<void> {
    for (const [what, port] of [["ingress", this.ports.ingress], ["admin", this.ports.admin], ["node", this.ports.node]] as const) {
      if (await listening(this.#host, port)) {
        throw new GridironError("RESTATE_PORT_TAKEN",
          `restate node ${this.name}'s ${what} port ${this.#host}:${port} is already taken by another process (another cluster or mesh?); stop it or choose other ports`,
          { node: this.name, port, what });
      }
    }
  }
}

/** Whether something accepts TCP connections on host:port. */
export function listening(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve(false);
    });
  });
}
