// The limits a cell's watchdog enforces. A version may declare its own in gridiron.json
// ("limits": {"hangMs", "memoryMb"}); one that does not gets the node's defaults, and none gets more
// than the node's maximums. A cell serves several versions and is one process, so it gets the
// largest limit any of them needs: a service's declared need is honoured, at the price of looser
// limits for what shares its cell. Pure (test/workerd/limits.test.ts).
import type { RunLimits } from "../source/manifest.ts";

export interface CellLimits {
  /** How long the cell's JS thread may stay busy (its health route unanswered) before it is replaced. */
  hangMs: number;
  /** Resident memory the cell may use before it is replaced. */
  memoryMb: number;
}

export interface NodeLimits {
  /** For versions that declare nothing (--cell-hang-ms, --cell-memory-mb). */
  defaults: CellLimits;
  /** The most a version may declare (--cell-hang-ms-max, --cell-memory-mb-max). */
  max: CellLimits;
}

/** What one version gets: its declaration (or the default), never more than the maximum. */
export function versionLimits(declared: RunLimits | undefined, node: NodeLimits): CellLimits {
  return {
    hangMs: Math.min(declared?.hangMs ?? node.defaults.hangMs, node.max.hangMs),
    memoryMb: Math.min(declared?.memoryMb ?? node.defaults.memoryMb, node.max.memoryMb),
  };
}

/**
 * The limits of a cell serving versions that declare `declared` (one entry per version): the
 * largest of theirs. An empty cell gets the node's defaults.
 */
export function effectiveLimits(declared: readonly (RunLimits | undefined)[], node: NodeLimits): CellLimits {
  if (declared.length === 0) return versionLimits(undefined, node);
  const each = declared.map((d) => versionLimits(d, node));
  return {
    hangMs: Math.max(...each.map((l) => l.hangMs)),
    memoryMb: Math.max(...each.map((l) => l.memoryMb)),
  };
}
