// Cells: the workerd processes of one node, each on its own listening socket. workerd runs every
// isolate of a process on one thread and enforces no CPU or memory limit, so a handler that hangs
// or allocates without bound takes its whole process down; a cell bounds that to what it holds.
// Which version goes to which cell is decided by reconcile/placement.ts; this module makes each
// cell serve exactly its share. Cell 0 always runs (unless there are lanes, which take new versions
// first); another cell or lane starts when it first holds a version.
import type { Logger } from "pino";
import { keyOf, type VersionRef } from "../source/names.ts";

const refOf = (key: string): VersionRef => {
  const i = key.indexOf("/");
  return { service: key.slice(0, i), version: key.slice(i + 1) };
};
import type { VersionStore } from "../store/versions.ts";
import type { ServedVersion, WorkerdMode, WorkerdPolicy } from "./build.ts";
import { ConfigFiles } from "./config-files.ts";
import type { WorkerdProcess } from "./process.ts";
import { Serving } from "./serving.ts";

/** A version served in a cell besides the one placement gave it (a ramp's companion, rollout.ts). */
export interface AlsoServed {
  ref: VersionRef;
  cell: number;
}

export interface Cell {
  readonly index: number;
  /** Base URL Restate uses for versions in this cell: http://<host>:<port>. */
  readonly url: string;
  /** Absent on a registrar: its cells are the nodes' (it serves nothing itself). */
  readonly process?: WorkerdProcess;
  readonly serving?: Serving;
  /** A lane (--lanes): one version at most, served without the router's hop. */
  readonly lane: boolean;
}

export interface CellsDeps {
  /** One entry per cell: its base URL and its supervisor (not started yet; none on a registrar). */
  cells: readonly { url: string; process?: WorkerdProcess }[];
  dataDir: string;
  store: VersionStore;
  policy: WorkerdPolicy;
  mode?: WorkerdMode;
  versionsDir?: string;
  /** How many of `cells`, at the end, are lanes. */
  lanes?: number;
}

export class Cells {
  readonly cells: readonly Cell[];
  /** Index of the first lane: cells come before it, lanes from it on (cells.length: no lanes). */
  readonly firstLane: number;

  readonly #mode: WorkerdMode;

  constructor(d: CellsDeps, log?: Logger) {
    this.#mode = d.mode ?? "static";
    log?.child({ component: "workerd-process" }).debug("workerd's bootstrap code cache is off under Gridiron's V8 flags (each new isolate compiles workerd's own scripts; docs/performance.md); its warning at every start is not logged");
    if (d.policy.identityKeys !== null) {
      log?.child({ component: "workerd-process" }).info("the router verifies every request's signature, so the Restate SDK's per-bundle warning \"Accepting requests without validating request signatures\" is not logged");
    }
    const firstLane = (this.firstLane = d.cells.length - (d.lanes ?? 0));
    this.cells = d.cells.map(({ url, process }, index) => ({
      index,
      url,
      process,
      lane: index >= firstLane,
      serving: process && new Serving({
        lane: index >= firstLane,
        workerd: process,
        // Cell 0 keeps the single-process layout (<data>/workerd/config.bin) so a node that
        // upgrades finds its last good config where it was.
        configFiles: new ConfigFiles(d.dataDir, index === 0 ? undefined : `cell-${index}`),
        store: d.store,
        policy: d.policy,
        mode: d.mode,
        versionsDir: d.versionsDir,
      }),
    }));
  }

  get mode(): WorkerdMode {
    return this.#mode;
  }

  /** Registrar: what every node serves (key → cell), as the nodes last reported it. */
  #remote = new Map<string, number>();

  /** Registrar: records what every Ready node serves; `served` reports it from then on. */
  setRemoteServed(served: ReadonlyMap<string, number>): void {
    this.#remote = new Map(served);
  }

  /** True when this process serves versions itself (not a registrar). */
  get local(): boolean {
    return this.cells.some((c) => c.process !== undefined);
  }

  get urls(): string[] {
    return this.cells.map((c) => c.url);
  }

  /** How many cells are lanes (the last ones). */
  get lanes(): number {
    return this.cells.length - this.firstLane;
  }

  /** Every version served by any cell (a registrar: by every Ready node). */
  get served(): VersionRef[] {
    if (!this.local) return [...this.#remote.keys()].map(refOf);
    return this.cells.flatMap((c) => c.serving?.served ?? []);
  }

  /** Where each served version is served: key → cell index. */
  servedIn(): Map<string, number> {
    if (!this.local) return new Map(this.#remote);
    return new Map(this.cells.flatMap((c) => (c.serving?.served ?? []).map((v) => [keyOf(v), c.index] as const)));
  }

  /** The workerd part of status: cell 0 as "the" process (as before cells), and every cell. */
  status<H>(health: (cell: number) => H | undefined): {
    url: string; pid?: number; generation: number; mode: WorkerdMode;
    cells: { index: number; url: string; pid?: number; generation: number; versions: string[]; lane?: true; health?: H }[];
  } {
    const cell0 = this.cells[0]!;
    return {
      url: cell0.url, pid: cell0.process?.pid, generation: cell0.process?.generation ?? 0, mode: this.mode,
      cells: this.cells.map((c) => {
        const h = health(c.index);
        return { index: c.index, url: c.url, pid: c.process?.pid, generation: c.process?.generation ?? 0, versions: (c.serving?.served ?? []).map(keyOf), ...(c.lane ? { lane: true as const } : {}), ...(h ? { health: h } : {}) };
      }),
    };
  }

  /** Cell 0 starts even with nothing in it (the single-process layout), unless lanes take new versions. */
  #idle(c: Cell): boolean {
    return c.index !== 0 || this.lanes > 0;
  }

  /** Starts cell 0, and every other cell that holds a version in `placed`. */
  async start(refs: readonly VersionRef[], placed: ReadonlyMap<string, number>, log: Logger, also: readonly AlsoServed[] = []): Promise<void> {
    const byCell = this.#split(refs, placed, also);
    for (const c of this.cells) {
      const mine = byCell.get(c.index) ?? [];
      if (!c.serving || (mine.length === 0 && this.#idle(c))) continue;
      const port = await c.serving.start(mine);
      log.info({ cell: c.index, versions: mine.length, port }, "workerd cell serving registered versions");
    }
  }

  /**
   * Makes each cell serve exactly its share of `serve`, and `also` in a second cell each. A cell
   * that has never run and gets nothing stays down; one that ran keeps running (empty) so its
   * socket keeps answering.
   */
  async apply(serve: readonly VersionRef[], placed: ReadonlyMap<string, number>, candidates: ReadonlyMap<string, ServedVersion>, log: Logger, also: readonly AlsoServed[] = []): Promise<void> {
    const byCell = this.#split(serve, placed, also);
    for (const c of this.cells) {
      const mine = byCell.get(c.index) ?? [];
      if (!c.serving || !c.process || (mine.length === 0 && c.process.configPath === undefined && this.#idle(c))) continue;
      await c.serving.apply(mine, candidates, log.child({ cell: c.index }));
    }
  }

  #split(refs: readonly VersionRef[], placed: ReadonlyMap<string, number>, also: readonly AlsoServed[]): Map<number, VersionRef[]> {
    const out = new Map<number, VersionRef[]>();
    for (const v of refs) {
      const cell = placed.get(keyOf(v)) ?? 0;
      out.set(cell, [...(out.get(cell) ?? []), { service: v.service, version: v.version }]);
    }
    // Served in a second cell too (a ramp's old version that lives on a lane: rollout.ts).
    for (const { ref, cell } of also) {
      const mine = out.get(cell) ?? [];
      if (!mine.some((v) => keyOf(v) === keyOf(ref))) out.set(cell, [...mine, { service: ref.service, version: ref.version }]);
    }
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all(this.cells.map((c) => c.process?.stop()));
  }
}
