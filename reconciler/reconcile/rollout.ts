// Progressive rollouts, the pure part: when a new version starts on a ramp instead of taking every
// new call, and how each step is judged. No I/O and time as an argument, so every rule is a row in
// test/reconcile/rollout.test.ts; reconcile/rollouts.ts does the registering, pinning and moving.
//
// A rollout's state lives in Restate's registry, nothing else: the service's latest deployment is a
// ramp (restate/ramp.ts) whose URI names old, new and weight, created when the step began. An
// abort is a rollback pin of the old version (store/pins.ts), released when the source moves on.
import type { RolloutPolicy } from "../source/manifest.ts";
import type { Ramp } from "../restate/ramp.ts";
import type { RolloutCounts } from "../restate/rollout-stats.ts";
import type { ObservedDeployment } from "./observe.ts";
import type { OurDeployment } from "../restate/deployments.ts";
import type { AlsoServed } from "../workerd/cells.ts";

/** The policy's weights, ending at 100 (a policy whose last step is below 100 finishes with 100). */
export function rolloutSteps(policy: RolloutPolicy): number[] {
  return policy.steps[policy.steps.length - 1] === 100 ? [...policy.steps] : [...policy.steps, 100];
}

/** The weight after `weight`: the next step above it, 100 at the end. */
export function nextWeight(policy: RolloutPolicy, weight: number): number {
  return rolloutSteps(policy).find((w) => w > weight) ?? 100;
}

/** The deployment new calls of `service` reach now (ours, latest for one of its Restate services). */
export function latestOf<D extends Pick<ObservedDeployment, "service" | "createdAt"> & { latestFor?: readonly string[] }>(deployments: readonly D[], service: string): D | undefined {
  return deployments.filter((d) => d.service === service && (d.latestFor?.length ?? 0) > 0).sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1)).pop();
}

/** `rollback`: the version is the ramp's old one coming back (an abort), not a new version. */
export type RampStart = { ramp: Ramp } | { ramp?: undefined; why: string; rollback?: true };

/**
 * Whether registering `version` of `service` (placed in `cell`) starts a ramp, and at what weight.
 * Only a plain registration of a new version over an older one that serves starts one; the old
 * version of a running ramp is the one a newer version ramps from.
 */
export function rampStart(policy: RolloutPolicy | undefined, service: string, version: string, cell: number, deployments: readonly ObservedDeployment[], companions: readonly Companion[] = []): RampStart {
  if (!policy) return { why: "no rollout policy" };
  const latest = latestOf(deployments, service);
  if (!latest) return { why: "first version of the service: nothing to ramp from" };
  const from = latest.ramp ? latest.ramp.from : latest.version;
  if (from === version) return { why: `${version} already serves`, rollback: true };
  const beside = companions.some((c) => c.cell === cell && c.ref.service === service && c.ref.version === from);
  if (latest.cell !== cell && !beside) return { why: `${from} is served in cell ${latest.cell} and ${version} in cell ${cell}; a ramp needs both in one cell` };
  const weight = rolloutSteps(policy)[0]!;
  if (weight >= 100) return { why: "the first step is 100%" };
  return { ramp: { from, to: version, weight } };
}

export type Decision = "advance" | "hold" | "abort";

export interface Verdict {
  decision: Decision;
  reason: string;
}

const bad = (c: RolloutCounts): number => c.failed + c.retrying + c.paused;
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/**
 * One step, judged on its window's counts (the invocations its ramp deployment received):
 * - abort when the new version has a paused invocation (its retry policy ran out), or when its
 *   failures (terminal, retrying, paused) exceed `maxFailureRatio` of max(started, minInvocations)
 *   and its failure ratio is above the old version's in the same window: a handful of failures
 *   aborts early, before minInvocations, when even minInvocations calls could not absorb them,
 *   and a failure both versions share (a dependency down) is not the new version's fault;
 * - advance once the step has lasted stepSeconds and the new version started minInvocations;
 * - hold otherwise, saying what it waits for.
 */
export function judge(policy: RolloutPolicy, counts: { old: RolloutCounts; new: RolloutCounts }, elapsedMs: number): Verdict {
  const n = counts.new;
  const o = counts.old;
  if (n.paused > 0) return { decision: "abort", reason: `${n.paused} invocation(s) of the new version paused after their last retry` };
  const ratio = n.started > 0 ? bad(n) / n.started : 0;
  const oldRatio = o.started >= policy.minInvocations ? bad(o) / o.started : 0;
  if (bad(n) > policy.maxFailureRatio * Math.max(n.started, policy.minInvocations) && ratio > oldRatio) {
    return {
      decision: "abort",
      reason: `new version failed ${bad(n)} of ${n.started} invocations (${pct(ratio)}; ${n.failed} terminal, ${n.retrying} retrying), over ${pct(policy.maxFailureRatio)}; old version ${pct(oldRatio)} in the same window`,
    };
  }
  const waitS = Math.ceil((policy.stepSeconds * 1000 - elapsedMs) / 1000);
  if (waitS > 0) return { decision: "hold", reason: `step runs ${waitS} s more (new version ${n.started} started, ${bad(n)} failed)` };
  if (n.started < policy.minInvocations) return { decision: "hold", reason: `waiting for ${policy.minInvocations - n.started} more invocation(s) of the new version (${n.started} of ${policy.minInvocations})` };
  return { decision: "advance", reason: `new version failed ${bad(n)} of ${n.started} (${pct(ratio)}), within ${pct(policy.maxFailureRatio)}` };
}

/** A version served in a second cell besides where it is registered: see rampCompanions. */
export type Companion = AlsoServed;

/**
 * A ramp's router must serve both its versions, but the old one may live on a lane (its own
 * process, no router): it is then also served in the cell of the ramp, for as long as the ramp is
 * registered (after a promote, invocations pinned to it still come through it). `starting`:
 * versions being registered now with a rollout policy, and their cells, whose ramp would start
 * from a version on a lane. Lanes are cells from `firstLane` on. Without `latestFor` (at start-up,
 * before a pass) only registered ramps count.
 */
export function rampCompanions(deployments: readonly (OurDeployment & { latestFor?: readonly string[] })[], starting: readonly { service: string; cell: number }[], firstLane: number): Companion[] {
  const out: Companion[] = [];
  const onLane = (service: string, version: string) => deployments.some((d) => d.service === service && d.version === version && d.cell >= firstLane);
  /** `from` of `service` beside a ramp in `cell`, when it lives on a lane; once each. */
  const add = (service: string, from: string, cell: number) => {
    if (cell < firstLane && onLane(service, from) && !out.some((c) => c.ref.service === service && c.ref.version === from && c.cell === cell)) out.push({ ref: { service, version: from }, cell });
  };
  for (const d of deployments) if (d.ramp) add(d.service, d.ramp.from, d.cell);
  for (const s of starting) {
    const latest = latestOf(deployments, s.service);
    if (latest && latest.cell !== s.cell) add(s.service, latest.ramp ? latest.ramp.from : latest.version, s.cell);
  }
  return out;
}
