// How `gridiron status` and `gridiron rollout status` show a progressive rollout.
import type { RolloutCounts } from "../restate/rollout-stats.ts";
import type { RolloutStatus } from "../reconcile/status.ts";

const counts = (c: RolloutCounts) => `started ${c.started}, completed ${c.completed}, failed ${c.failed}, retrying ${c.retrying}, paused ${c.paused}`;

/** A rollout in a few lines, each starting with `indent`. */
export function rolloutLines(r: RolloutStatus, indent = "  "): string[] {
  const head = r.decision === "done"
    ? `rollout done: ${r.to} takes every new call (from ${r.from})`
    : r.decision === "aborted"
      ? `rollout aborted: ${r.from} takes every new call again (${r.to} was ramping)`
      : `rollout ${r.from} → ${r.to}: ${r.weight}% of new calls to ${r.to} (steps ${r.steps.join(" → ")})${r.since ? `, this step since ${r.since}` : ""}`;
  const lines = [head];
  if (r.decision !== "done") {
    lines.push(`  old ${r.from}: ${counts(r.counts.old)}`);
    lines.push(`  new ${r.to}: ${counts(r.counts.new)}`);
  }
  lines.push(`  ${r.decision}: ${r.reason} (${r.at})`);
  return lines.map((l) => `${indent}${l}`);
}
