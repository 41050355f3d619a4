// The watchdog of one workerd process (one cell). workerd runs every isolate of a process on one
// thread and enforces no CPU or memory limit (workerd issue #49: the embedder's job), so:
// - liveness: every interval, GET the router's health route, which JS in the process answers. A
//   probe left unanswered for `hangMs` means the thread has been busy that long, and every version
//   in the process with it: the serving generation is SIGKILLed and a fresh one takes the socket.
// - memory: the process's resident memory (VmRSS) above `memoryMb` is replaced the same way. It is
//   read on a short timer of its own, apart from the probes: whatever a fast allocator gets in
//   between two readings is how far it overshoots the limit.
// - a generation that dies by itself is the supervisor's (process.ts restarts it); the watchdog
//   counts it, tells a V8 heap exhaustion from another crash, and reports it like its own kills.
// Probes run only while the process is steady (one generation serving, none starting), so a
// deploy or a restart is never mistaken for a hang. Before each kill, and after each crash,
// `triage` is asked what was in flight (node/watchdogs.ts asks Restate and pauses poison).
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { HttpClient } from "../core/http-client.ts";
import type { CellLimits } from "./limits.ts";
import type { WorkerdProcess } from "./process.ts";
import { readProcSample, type ProcSample } from "./proc.ts";

export type FaultKind = "hang" | "memory" | "crash";
export const FAULT_KINDS: readonly FaultKind[] = ["hang", "memory", "crash"];

/** The route every generation's router answers itself, before any identity check or bundle. */
export const HEALTH_PATH = "/_gridiron/health";
export const DEFAULT_WATCH_INTERVAL_MS = 1000;
export const DEFAULT_MEMORY_SAMPLE_MS = 100;

export interface CellFault {
  /** The cell's index and name ("cell 1"). */
  index: number;
  cell: string;
  kind: FaultKind;
  /** When it was seen (ms since the epoch). */
  at: number;
  pid: number;
  generation: number;
  /** Since when the faulty generation served: an invocation that started earlier ran elsewhere. */
  servingSince?: number;
  /** Hang: when the unanswered probe was sent. What started after it was waiting behind the culprit. */
  probeSentAt?: number;
  /** "<service>/<version>" of every version the process served. */
  holds: string[];
  detail: string;
  limits: CellLimits;
}

export interface CellHealth {
  /** Of the serving generation, as of the last tick. */
  rssBytes?: number;
  cpuSeconds?: number;
  /** Generations replaced, by why: crash (died by itself), hang, memory. */
  restarts: Record<FaultKind, number>;
  lastEvent?: { kind: FaultKind; at: string; pid: number; generation: number; detail: string };
  /** What the watchdog enforces now (the largest limits of the versions the cell serves). */
  limits: CellLimits;
}

export interface WatchdogEvents {
  /** After a kill (hang, memory) or a crash, with what `triage` said. */
  fault: [CellFault & { triage?: unknown }];
}

export interface WatchdogOptions {
  process: Pick<WorkerdProcess, "pid" | "generation" | "steady" | "replace" | "on" | "off">;
  index: number;
  /** Base URL of the cell's socket; the health route is probed under it. */
  url: string;
  /** What the process serves, for the log and for triage. */
  holds: () => readonly string[];
  /** The limits to enforce now; asked before every probe and every memory reading (keep it cheap). */
  limits: () => CellLimits | Promise<CellLimits>;
  /** Asked about each fault, with at most `triageTimeoutMs` to answer; its answer is logged with it. */
  triage?: (fault: CellFault) => Promise<unknown>;
  logger: Logger;
  /** Upper bound of the probe interval; a short hang limit probes more often. Default 1000. */
  intervalMs?: number;
  /** How often resident memory is read. Default DEFAULT_MEMORY_SAMPLE_MS. */
  memorySampleMs?: number;
  triageTimeoutMs?: number;
  /** Injectable for tests: RSS and CPU of a pid. */
  sample?: (pid: number) => Promise<ProcSample | undefined>;
}

/** A crash whose stderr says V8 ran out of heap is a memory fault, not a bug in workerd. */
const OUT_OF_MEMORY = /Reached heap limit|JavaScript heap out of memory|Fatal JavaScript out of memory|Fatal process out of memory/i;

interface Probe {
  generation: number;
  sentAt: number;
  timer: NodeJS.Timeout;
}

export class Watchdog extends EventEmitter<WatchdogEvents> {
  readonly #o: WatchdogOptions;
  readonly #name: string;
  readonly #log: Logger;
  readonly #http = new HttpClient();
  readonly #sample: (pid: number) => Promise<ProcSample | undefined>;
  readonly #health: CellHealth;
  #limits: CellLimits;
  #probe: Probe | undefined;
  #timer: NodeJS.Timeout | undefined;
  #memoryTimer: NodeJS.Timeout | undefined;
  #tripping = false;
  #stopped = true;
  readonly #servingSince = new Map<number, number>();
  readonly #onReady = (e: { generation: number }) => {
    this.#servingSince.set(e.generation, Date.now());
  };
  readonly #onCrash = (e: { generation: number; pid: number; code: number | null; signal: NodeJS.Signals | null; stderrTail: string; upMs: number }) => {
    const how = e.signal !== null ? `signal ${e.signal}` : `code ${e.code}`;
    const lastLine = e.stderrTail.trim().split("\n").pop() ?? "";
    const kind: FaultKind = OUT_OF_MEMORY.test(e.stderrTail) ? "memory" : "crash";
    const detail = `${kind === "memory" ? "V8 ran out of heap: " : ""}exited by itself (${how})${lastLine ? `: ${lastLine.slice(0, 300)}` : ""}`;
    void this.#trip(kind, detail, { pid: e.pid, generation: e.generation, servingSince: Date.now() - e.upMs }, false);
  };

  constructor(o: WatchdogOptions, initialLimits: CellLimits) {
    super();
    this.#o = o;
    this.#name = `cell ${o.index}`;
    this.#log = o.logger.child({ component: "watchdog", cell: o.index });
    this.#sample = o.sample ?? readProcSample;
    this.#limits = initialLimits;
    this.#health = { restarts: { hang: 0, memory: 0, crash: 0 }, limits: initialLimits };
  }

  get name(): string {
    return this.#name;
  }

  /** RSS, CPU, limits, restarts by reason and the last event, as of the last tick. */
  health(): CellHealth {
    return { ...this.#health, restarts: { ...this.#health.restarts }, limits: { ...this.#limits } };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#o.process.on("ready", this.#onReady);
    this.#o.process.on("crash", this.#onCrash);
    this.#schedule(0);
    this.#scheduleMemory(0);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#memoryTimer);
    this.#clearProbe();
    this.#o.process.off("ready", this.#onReady);
    this.#o.process.off("crash", this.#onCrash);
    this.#http.close();
  }

  /** Probe often enough that a hang is seen within a quarter of its limit after it begins. */
  #intervalMs(): number {
    return Math.max(50, Math.min(this.#o.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS, Math.floor(this.#limits.hangMs / 4)));
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick().finally(() => this.#schedule(this.#intervalMs())), ms);
    this.#timer.unref();
  }

  #scheduleMemory(ms: number): void {
    if (this.#stopped) return;
    this.#memoryTimer = setTimeout(() => void this.#sampleMemory().finally(() => this.#scheduleMemory(this.#o.memorySampleMs ?? DEFAULT_MEMORY_SAMPLE_MS)), ms);
    this.#memoryTimer.unref();
  }

  /**
   * What the cell holds changes with deploys, so each probe and each memory reading asks again. A
   * failure is logged by the probes' tick only, not ten times a second.
   */
  async #refreshLimits(log: boolean): Promise<void> {
    try {
      this.#limits = await this.#o.limits();
    } catch (err) {
      if (log) this.#log.warn({ err }, "could not read the cell's limits; the last ones stay");
    }
  }

  async #tick(): Promise<void> {
    await this.#refreshLimits(true);
    const p = this.#o.process;
    const pid = p.pid;
    const generation = p.generation;
    if (this.#probe && this.#probe.generation !== generation) this.#clearProbe();
    if (pid === undefined || !p.steady || this.#tripping) return;
    if (!this.#probe) this.#sendProbe(generation);
  }

  async #sampleMemory(): Promise<void> {
    const p = this.#o.process;
    const pid = p.pid;
    const generation = p.generation;
    if (pid === undefined || !p.steady || this.#tripping) return;
    await this.#refreshLimits(false);
    const sample = await this.#sample(pid);
    if (!sample || p.pid !== pid) return;
    this.#health.rssBytes = sample.rssBytes;
    this.#health.cpuSeconds = sample.cpuSeconds;
    const rssMb = sample.rssBytes / (1024 * 1024);
    if (rssMb > this.#limits.memoryMb) {
      await this.#trip("memory", `resident memory ${Math.round(rssMb)} MB is over the cell's ${this.#limits.memoryMb} MB limit`, { pid, generation }, true);
    }
  }

  #sendProbe(generation: number): void {
    const hangMs = this.#limits.hangMs;
    const sentAt = Date.now();
    const timer = setTimeout(() => {
      if (this.#probe !== probe || this.#stopped) return;
      const p = this.#o.process;
      // A deploy began meanwhile: the probe may have reached a generation on its way out.
      if (!p.steady || p.generation !== generation || p.pid === undefined) return this.#clearProbe();
      void this.#trip("hang", `health route unanswered for ${hangMs} ms: the JS thread is busy`, { pid: p.pid, generation, probeSentAt: sentAt }, true);
    }, hangMs);
    timer.unref();
    const probe: Probe = { generation, sentAt, timer };
    this.#probe = probe;
    // A connection of its own each time: a kept-alive one would stay with the generation that accepted it.
    this.#http.request(`${this.#o.url}${HEALTH_PATH}`, { headers: { connection: "close" }, timeoutMs: hangMs + 10_000 }).then(
      () => {
        if (this.#probe === probe) this.#clearProbe();
      },
      () => {
        // Refused or reset: the process is going or gone, which is the supervisor's business.
        if (this.#probe === probe) this.#clearProbe();
      },
    );
  }

  #clearProbe(): void {
    if (this.#probe) clearTimeout(this.#probe.timer);
    this.#probe = undefined;
  }

  /** `killing`: a hang or memory fault, which the watchdog ends; else a crash, already over. */
  async #trip(kind: FaultKind, detail: string, at: { pid: number; generation: number; servingSince?: number; probeSentAt?: number }, killing: boolean): Promise<void> {
    if (this.#stopped) return;
    // One kill at a time; a crash is reported whatever else goes on (it is another generation's end).
    if (killing && this.#tripping) return;
    if (killing) this.#tripping = true;
    this.#clearProbe();
    const fault: CellFault = {
      index: this.#o.index,
      cell: this.#name,
      kind,
      at: Date.now(),
      pid: at.pid,
      generation: at.generation,
      servingSince: at.servingSince ?? this.#servingSince.get(at.generation),
      ...(at.probeSentAt !== undefined ? { probeSentAt: at.probeSentAt } : {}),
      holds: [...this.#o.holds()],
      detail,
      limits: { ...this.#limits },
    };
    try {
      const triage = await this.#triage(fault);
      if (killing) {
        const p = this.#o.process;
        // Replaced meanwhile by a deploy or a crash: that generation is gone already.
        if (p.generation !== fault.generation || p.replace(`${kind}: ${detail}`) === undefined) return;
      }
      this.#servingSince.delete(fault.generation);
      this.#health.rssBytes = undefined;
      this.#health.cpuSeconds = undefined;
      this.#health.restarts[kind]++;
      this.#health.lastEvent = { kind, at: new Date(fault.at).toISOString(), pid: fault.pid, generation: fault.generation, detail };
      const what = kind === "hang" ? "hung" : kind === "memory" ? "outgrew its memory" : "crashed";
      this.#log.error({ kind, pid: fault.pid, generation: fault.generation, holds: fault.holds, detail, limits: fault.limits, inFlight: triage },
        `${this.#name} ${what}: ${killing ? "killed and replaced" : "restarted by its supervisor"} (${fault.holds.join(", ") || "it held nothing"})`);
      this.emit("fault", { ...fault, triage });
    } finally {
      if (killing) this.#tripping = false;
    }
  }

  async #triage(fault: CellFault): Promise<unknown> {
    const triage = this.#o.triage;
    if (!triage) return undefined;
    const timeoutMs = this.#o.triageTimeoutMs ?? 1000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`not known: no answer within ${timeoutMs} ms`), timeoutMs);
    });
    try {
      return await Promise.race([triage(fault).catch((err: Error) => `not known: ${err.message}`), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
