// Poison invocations: an invocation that keeps taking its cell down must not be retried forever.
// Each time a cell's watchdog kills it (hang, memory) or it crashes, the invocations that were in
// flight in it are counted; one in flight at KILLS_TO_PAUSE of them is paused through Restate's
// admin API (node/watchdogs.ts) and remembered here until Restate no longer holds it paused (an
// operator resumed or killed it). Status reads this record: a version with a poisoned invocation,
// or one at a fault within RECENT_FAULT_MS, is Degraded, not Ready. Pure (test/reconcile/poison.test.ts).
import type { FaultKind } from "../workerd/watchdog.ts";

/**
 * Kills an invocation must be in flight at before it is paused. One is chance (an invocation that
 * only shared the cell with the culprit); three separate fresh processes dying with it in flight
 * is not. Restate retries within a second or two, so three kills take about three hang limits.
 */
export const KILLS_TO_PAUSE = 3;
/** A version at a fault this recently is Degraded even when nothing of it was paused. */
export const RECENT_FAULT_MS = 5 * 60_000;
/** Faults kept for status, and how long an invocation's kill count is remembered. */
const KEEP_FAULTS = 50;
const FORGET_KILLS_MS = 60 * 60_000;

/** An invocation that was in flight in a process when it died, with the version it ran on. */
export interface BlamedInvocation {
  id: string;
  service: string;
  version: string;
  restateService: string;
  handler: string;
  target: string;
}

export interface FaultEvent {
  cell: number;
  kind: FaultKind;
  /** ms since the epoch */
  at: number;
  pid: number;
  generation: number;
  detail: string;
  /** "<service>/<version>" of what the process served. */
  holds: string[];
  /** In flight and counted: these may have caused it. */
  blamed: BlamedInvocation[];
}

export interface PoisonedInvocation extends BlamedInvocation {
  /** How it took its cell down the last time: hang, memory or crash. */
  how: FaultKind;
  /** Kills (and crashes) it was in flight at. */
  kills: number;
  pausedAt: string;
  /** Commands that end it, the usual one first. */
  resolve: string[];
}

/** The commands that resolve a poisoned invocation: resume it once a fixed version serves, or kill it. */
export function poisonResolve(id: string): string[] {
  return [`gridiron resume ${id} --deployment latest`, `gridiron kill ${id}`];
}

const FAULT_REASON: Record<FaultKind, string> = { hang: "CellHung", memory: "CellOutOfMemory", crash: "CellCrashed" };
const FAULT_VERB: Record<FaultKind, string> = { hang: "hung", memory: "outgrew its memory", crash: "crashed" };

export class FaultRecord {
  readonly #killsToPause: number;
  readonly #kills = new Map<string, { count: number; lastAt: number }>();
  readonly #poisoned = new Map<string, PoisonedInvocation>();
  #events: FaultEvent[] = [];
  /** cell/generation of every fault recorded: a kill that races a crash of the same process counts once. */
  readonly #seen = new Set<string>();

  constructor(opts: { killsToPause?: number } = {}) {
    this.#killsToPause = opts.killsToPause ?? KILLS_TO_PAUSE;
  }

  get killsToPause(): number {
    return this.#killsToPause;
  }

  /**
   * Counts a fault against each invocation it blames. Returns those that have now been in flight
   * at `killsToPause` faults and are not paused yet: the caller pauses them and calls poisoned().
   */
  record(e: FaultEvent): BlamedInvocation[] {
    const key = `${e.cell}/${e.generation}/${e.pid}`;
    if (this.#seen.has(key)) return [];
    this.#seen.add(key);
    this.#events = [e, ...this.#events].slice(0, KEEP_FAULTS);
    if (this.#seen.size > KEEP_FAULTS * 4) this.#seen.delete(this.#seen.values().next().value!);
    for (const [id, k] of this.#kills) if (e.at - k.lastAt > FORGET_KILLS_MS) this.#kills.delete(id);
    const toPause: BlamedInvocation[] = [];
    for (const b of e.blamed) {
      const count = (this.#kills.get(b.id)?.count ?? 0) + 1;
      this.#kills.set(b.id, { count, lastAt: e.at });
      if (count >= this.#killsToPause && !this.#poisoned.has(b.id)) toPause.push(b);
    }
    return toPause;
  }

  /** Kills `id` has been in flight at so far. */
  kills(id: string): number {
    return this.#kills.get(id)?.count ?? 0;
  }

  /** Remembers that `b` was paused after taking its cell down `how`. */
  poisoned(b: BlamedInvocation, how: FaultKind, at: number): PoisonedInvocation {
    const p: PoisonedInvocation = { ...b, how, kills: this.kills(b.id), pausedAt: new Date(at).toISOString(), resolve: poisonResolve(b.id) };
    this.#poisoned.set(b.id, p);
    return p;
  }

  poisonedIds(): string[] {
    return [...this.#poisoned.keys()];
  }

  /** Forgets the poisoned invocations Restate no longer holds paused; returns them. */
  release(stillPaused: ReadonlySet<string>): PoisonedInvocation[] {
    const gone = [...this.#poisoned.values()].filter((p) => !stillPaused.has(p.id));
    for (const p of gone) this.#poisoned.delete(p.id);
    return gone;
  }

  /** Newest first. */
  faults(): readonly FaultEvent[] {
    return this.#events;
  }

  poisonedOf(service: string, version: string): PoisonedInvocation[] {
    return [...this.#poisoned.values()].filter((p) => p.service === service && p.version === version);
  }

  /**
   * Faults within RECENT_FAULT_MS before `now` that concern a version: those that blamed one of its
   * invocations, and those that blamed nothing while its cell served it (no telling who did it).
   */
  recentOf(service: string, version: string, now: number): FaultEvent[] {
    const key = `${service}/${version}`;
    return this.#events.filter((e) => now - e.at <= RECENT_FAULT_MS &&
      (e.blamed.length > 0 ? e.blamed.some((b) => b.service === service && b.version === version) : e.holds.includes(key)));
  }

  /** Why a version is not healthy, or undefined when it is. */
  degraded(service: string, version: string, now: number): { reason: string; message: string } | undefined {
    const poisoned = this.poisonedOf(service, version);
    if (poisoned.length > 0) {
      return {
        reason: "PoisonedInvocations",
        message: poisoned.map((p) => `${p.id} (${p.target}) was in flight at ${p.kills} faults of its cell, the last a ${p.how}, and is paused: ` +
          `deploy a fix, then '${p.resolve[0]}', or end it with '${p.resolve[1]}'`).join("; "),
      };
    }
    const recent = this.recentOf(service, version, now);
    const last = recent[0];
    if (!last) return undefined;
    const mine = last.blamed.filter((b) => b.service === service && b.version === version);
    const who = mine.length > 0
      ? ` with ${mine.map((b) => `${b.target} (${b.id}, ${this.kills(b.id)} of ${this.#killsToPause} kills before it is paused)`).join(", ")} in flight`
      : " with nothing of it known in flight";
    return {
      reason: FAULT_REASON[last.kind],
      message: `cell ${last.cell} ${FAULT_VERB[last.kind]} at ${new Date(last.at).toISOString()} (${last.detail})${who}` +
        `${recent.length > 1 ? `; ${recent.length} faults in the last ${RECENT_FAULT_MS / 60_000} min` : ""}`,
    };
  }
}
