// One watchdog per cell (workerd/watchdog.ts), and what happens around each fault: Restate is
// asked which invocations were in flight in the process, each is counted against it, and one in
// flight at KILLS_TO_PAUSE faults is paused (reconcile/poison.ts keeps the record status reads).
// Pausing comes before the kill, so Restate pauses the invocation when the killed attempt fails
// instead of retrying it into the fresh process. Then a pass runs, so the conditions it records
// say so. While anything is paused as poison, Restate is asked now and then whether it still is:
// an operator's resume or kill releases it.
import type { Logger } from "pino";
import { keyOf } from "../source/names.ts";
import type { RunLimits } from "../source/manifest.ts";
import type { RestateAdmin } from "../restate/admin.ts";
import { ourDeployments } from "../restate/deployments.ts";
import { queryInFlight, queryStillPaused, type InFlightInvocation } from "../restate/in-flight.ts";
import { FaultRecord, type BlamedInvocation } from "../reconcile/poison.ts";
import type { VersionStore } from "../store/versions.ts";
import type { Cells } from "../workerd/cells.ts";
import { effectiveLimits, type NodeLimits } from "../workerd/limits.ts";
import { Watchdog, type CellFault, type CellHealth } from "../workerd/watchdog.ts";

/** An attempt may reach a fresh generation through the socket's backlog a little before it reported listening. */
const BACKLOG_SLACK_MS = 1000;
/**
 * Restate stamps an attempt's start before its request reaches workerd: one started just after
 * the unanswered probe was sent may still have been handled first, and be the culprit.
 */
const PROBE_SLACK_MS = 100;
const RELEASE_CHECK_MS = 5000;

export interface CellWatchDeps {
  cells: Pick<Cells, "cells" | "urls">;
  admin: Pick<RestateAdmin, "query" | "pauseInvocation" | "listDeployments">;
  store: Pick<VersionStore, "get">;
  limits: NodeLimits;
  logger: Logger;
  intervalMs?: number;
}

/** What triage found, as the fault's log line shows it. */
export interface TriageReport {
  inFlight: { id: string; target: string; version: string; blamed: boolean; kills: number }[];
  paused: string[];
}

export class CellWatch {
  readonly record = new FaultRecord();
  readonly watchdogs: Watchdog[];
  readonly #d: CellWatchDeps;
  readonly #log: Logger;
  readonly #declared = new Map<string, RunLimits | undefined>();
  #onChange: (why: string) => void = () => undefined;
  #releaseTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(d: CellWatchDeps) {
    this.#d = d;
    this.#log = d.logger.child({ component: "watchdog" });
    this.watchdogs = d.cells.cells.flatMap((c) => {
      if (!c.process) return [];
      const holds = () => (c.serving?.served ?? []).map(keyOf);
      return [new Watchdog({
        process: c.process,
        index: c.index,
        url: c.url.replace("//0.0.0.0:", "//127.0.0.1:"),
        holds,
        limits: () => this.#limitsOf(holds()),
        triage: (f) => this.#triage(f),
        logger: d.logger,
        intervalMs: d.intervalMs,
      }, d.limits.defaults)];
    });
  }

  /** Starts watching; `onChange` is told of each fault and each poison released (a pass should follow). */
  start(onChange: (why: string) => void): void {
    this.#onChange = onChange;
    for (const w of this.watchdogs) w.start();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#releaseTimer);
    for (const w of this.watchdogs) w.stop();
  }

  health(cell: number): CellHealth | undefined {
    return this.watchdogs.find((w) => w.name === `cell ${cell}`)?.health();
  }

  async #limitsOf(keys: readonly string[]) {
    const declared: (RunLimits | undefined)[] = [];
    for (const key of keys) {
      if (!this.#declared.has(key)) {
        const i = key.indexOf("/");
        // Versions are immutable: what a version declares is read once.
        this.#declared.set(key, (await this.#d.store.get(key.slice(0, i), key.slice(i + 1)))?.spec.limits);
      }
      declared.push(this.#declared.get(key));
    }
    return effectiveLimits(declared, this.#d.limits);
  }

  async #triage(f: CellFault): Promise<TriageReport | string> {
    let inFlight: (InFlightInvocation & { service: string; version: string })[] = [];
    let unknown: string | undefined;
    try {
      const deployments = ourDeployments(this.#d.cells.urls, await this.#d.admin.listDeployments()).filter((d) => d.cell === f.index);
      const byId = new Map(deployments.map((d) => [d.deploymentId, d]));
      const since = f.servingSince === undefined ? undefined : f.servingSince - BACKLOG_SLACK_MS;
      inFlight = (await queryInFlight(this.#d.admin, [...byId.keys()], since)).map((i) => ({ ...i, service: byId.get(i.deploymentId)!.service, version: byId.get(i.deploymentId)!.version }));
    } catch (err) {
      unknown = `not known: Restate did not say (${(err as Error).message})`;
    }
    // A hang is the work of what was running when the thread stopped answering; what started
    // later was waiting behind it. A crash or the memory limit could be any of them.
    const blamed = inFlight.filter((i) => f.kind !== "hang" || f.probeSentAt === undefined || i.startedAt === undefined || i.startedAt <= f.probeSentAt + PROBE_SLACK_MS);
    const toPause = this.record.record({
      cell: f.index, kind: f.kind, at: f.at, pid: f.pid, generation: f.generation, detail: f.detail, holds: f.holds,
      blamed: blamed.map((i): BlamedInvocation => ({ id: i.id, service: i.service, version: i.version, restateService: i.restateService, handler: i.handler, target: i.target })),
    });
    const paused: string[] = [];
    for (const b of toPause) {
      try {
        await this.#d.admin.pauseInvocation(b.id);
        const p = this.record.poisoned(b, f.kind, Date.now());
        paused.push(b.id);
        this.#log.error({ cell: f.index, invocation: b.id, target: b.target, service: b.service, version: b.version, how: f.kind, kills: p.kills, resolve: p.resolve },
          `poison invocation ${b.id} (${b.target}) paused: it was in flight at ${p.kills} faults of its cell; deploy a fix and '${p.resolve[0]}', or '${p.resolve[1]}'`);
      } catch (err) {
        this.#log.error({ err, invocation: b.id }, "could not pause a poison invocation; Restate will retry it");
      }
    }
    if (paused.length > 0) this.#scheduleReleaseCheck();
    const verb = f.kind === "hang" ? "hung" : f.kind === "memory" ? "outgrew its memory" : "crashed";
    // After the kill: the pass that follows records the conditions with the fault in them.
    setTimeout(() => this.#onChange(`fault: cell ${f.index} ${verb}`), 0).unref();
    if (unknown) return unknown;
    const ids = new Set(blamed.map((b) => b.id));
    return {
      inFlight: inFlight.map((i) => ({ id: i.id, target: i.target, version: `${i.service}/${i.version}`, blamed: ids.has(i.id), kills: this.record.kills(i.id) })),
      paused,
    };
  }

  #scheduleReleaseCheck(): void {
    if (this.#stopped || this.#releaseTimer) return;
    this.#releaseTimer = setTimeout(() => {
      this.#releaseTimer = undefined;
      void this.#releaseCheck().finally(() => {
        if (this.record.poisonedIds().length > 0) this.#scheduleReleaseCheck();
      });
    }, RELEASE_CHECK_MS);
    this.#releaseTimer.unref();
  }

  async #releaseCheck(): Promise<void> {
    const ids = this.record.poisonedIds();
    if (ids.length === 0) return;
    try {
      const released = this.record.release(await queryStillPaused(this.#d.admin, ids));
      if (released.length === 0) return;
      this.#log.info({ invocations: released.map((p) => p.id) }, "poison invocations no longer paused (resumed or killed)");
      this.#onChange("poison invocation resumed or killed");
    } catch (err) {
      this.#log.warn({ err }, "could not ask Restate whether poison invocations are still paused");
    }
  }
}
