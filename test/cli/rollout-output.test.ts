import { describe, expect, it } from "vitest";
import { rolloutLines } from "../../reconciler/cli/rollout-output.ts";
import type { RolloutStatus } from "../../reconciler/reconcile/status.ts";

const base: RolloutStatus = {
  from: "v-old", to: "v-new", weight: 50, steps: [10, 50, 100], since: "2026-12-03T12:00:00.000Z",
  counts: { old: { started: 12, completed: 11, failed: 0, retrying: 1, paused: 0 }, new: { started: 13, completed: 9, failed: 2, retrying: 1, paused: 1 } },
  decision: "hold", reason: "13 of 20 invocations needed to judge", at: "2026-12-03T12:00:30.000Z",
};

describe("rolloutLines", () => {
  it("a running step: weight, steps, both versions' counts, the decision and why", () => {
    expect(rolloutLines(base)).toEqual([
      "  rollout v-old → v-new: 50% of new calls to v-new (steps 10 → 50 → 100), this step since 2026-12-03T12:00:00.000Z",
      "    old v-old: started 12, completed 11, failed 0, retrying 1, paused 0",
      "    new v-new: started 13, completed 9, failed 2, retrying 1, paused 1",
      "    hold: 13 of 20 invocations needed to judge (2026-12-03T12:00:30.000Z)",
    ]);
  });

  it("an aborted rollout says which version takes the calls again; a finished one drops the counts", () => {
    expect(rolloutLines({ ...base, decision: "aborted", weight: 0, reason: "failure ratio 0.4 > 0.02" })[0]).toBe("  rollout aborted: v-old takes every new call again (v-new was ramping)");
    const done = rolloutLines({ ...base, decision: "done", weight: 100, reason: "promoted by hand" }, "");
    expect(done).toEqual(["rollout done: v-new takes every new call (from v-old)", "  done: promoted by hand (2026-12-03T12:00:30.000Z)"]);
  });
});
