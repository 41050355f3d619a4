// Which cell (workerd process) serves each version. A cell is a failure domain: a handler that
// hangs or crashes its process stops only what that cell holds. So each service gets a cell of its
// own while there are cells to spare; beyond that, services share the least-loaded cell. Pure, so
// every rule is a row in test/reconcile/placement.test.ts.
//
// A version's Restate deployment URI names its cell (the cell's port), and versions are
// immutable: a version stays in the cell it was registered in for as long as it is registered.
// A service moves only with a new version, and only off a shared cell onto an empty one.
//
// Lanes (--lanes, one machine only) come after the cells: each holds one version, served without
// the router's hop. A new version takes a free lane when its service may have one (a ramp needs
// both its versions behind one router, so a service with a rollout policy may not); otherwise, or
// with every lane taken, it goes to a cell as above.
import { keyOf, type VersionRef } from "../source/names.ts";

/** A registered deployment and the cell its URI points at. */
export interface PlacedDeployment extends VersionRef {
  cell: number;
  createdAt: string;
  /** Restate services for which this deployment is where new calls go. */
  latestFor?: readonly string[];
}

/**
 * The cell of every version in `serve`. `served` says where versions are served now (a version
 * already served but not yet registered keeps its cell).
 */
export function placeVersions(
  serve: readonly VersionRef[],
  registered: readonly PlacedDeployment[],
  served: ReadonlyMap<string, number>,
  cells: number,
  /**
   * spread (one machine): a cell per service while cells last. hash (a cluster): a new version's
   * cell is a hash of its service name, so every node and the registrar agree without talking.
   */
  fresh: "spread" | "hash" = "spread",
  /** Lanes after the `cells` cells (spread only), and which services may take one. */
  lanes: Lanes = NO_LANES,
): Map<string, number> {
  const out = new Map<string, number>();
  const byKey = new Map<string, PlacedDeployment>();
  const all = cells + lanes.count;
  for (const d of [...registered].sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1))) if (d.cell < all) byKey.set(keyOf(d), d);
  // Services per cell (and lane), counting what is placed so far: the load a newcomer is judged by.
  const holds = Array.from({ length: all }, () => new Set<string>());
  const place = (v: VersionRef, cell: number) => {
    out.set(keyOf(v), cell);
    holds[cell]!.add(v.service);
  };
  const rest: VersionRef[] = [];
  for (const v of [...serve].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1))) {
    const fixed = byKey.get(keyOf(v))?.cell ?? served.get(keyOf(v));
    if (fixed !== undefined && fixed < all) place(v, fixed);
    else rest.push(v);
  }
  // Registered versions that leave `serve` still count towards where their service lives (a lane is
  // no home: the next version gets a lane of its own, or a cell).
  const home = new Map<string, number>();
  for (const d of byKey.values()) if ((d.latestFor?.length ?? 0) > 0 && d.cell < cells) home.set(d.service, d.cell);
  for (const v of rest) {
    const lane = fresh === "spread" && lanes.laneable(v.service) ? holds.findIndex((h, i) => i >= cells && h.size === 0) : -1;
    if (lane >= 0) {
      place(v, lane);
      continue;
    }
    if (fresh === "hash") {
      place(v, hashCell(v.service, cells));
      continue;
    }
    const cell = home.get(v.service) ?? [...out].find(([k, c]) => k.startsWith(`${v.service}/`) && c < cells)?.[1];
    const empty = holds.findIndex((h) => h.size === 0);
    const shared = cell !== undefined && [...holds[cell]!].some((s) => s !== v.service);
    if (cell !== undefined && !(shared && empty >= 0)) {
      place(v, cell);
      continue;
    }
    place(v, leastLoaded(holds.slice(0, cells)));
  }
  return out;
}

export interface Lanes {
  count: number;
  laneable(service: string): boolean;
}

const NO_LANES: Lanes = { count: 0, laneable: () => false };

/** FNV-1a of the service name, modulo the cell count. */
export function hashCell(service: string, cells: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < service.length; i++) h = Math.imul(h ^ service.charCodeAt(i), 0x01000193);
  return (h >>> 0) % cells;
}

function leastLoaded(holds: readonly Set<string>[]): number {
  let best = 0;
  for (let i = 1; i < holds.length; i++) if (holds[i]!.size < holds[best]!.size) best = i;
  return best;
}
