import { describe, expect, it } from "vitest";
import { judge, nextWeight, rampCompanions, rampStart, rolloutSteps } from "../../reconciler/reconcile/rollout.ts";
import type { ObservedDeployment } from "../../reconciler/reconcile/observe.ts";
import type { RolloutCounts } from "../../reconciler/restate/rollout-stats.ts";
import type { RolloutPolicy } from "../../reconciler/source/manifest.ts";

const policy: RolloutPolicy = { steps: [10, 50, 100], stepSeconds: 60, maxFailureRatio: 0.02, minInvocations: 20 };
const c = (started: number, bad: Partial<RolloutCounts> = {}): RolloutCounts => ({ started, completed: started - (bad.failed ?? 0) - (bad.retrying ?? 0) - (bad.paused ?? 0), failed: 0, retrying: 0, paused: 0, ...bad });
const dep = (version: string, o: Partial<ObservedDeployment> = {}): ObservedDeployment => ({
  service: "greeter", version, cell: 0, deploymentId: `dp_${version}`, createdAt: "2026-01-01T00:00:00Z", uri: "", restateServices: ["Greeter"], metadata: {}, latestFor: ["Greeter"], ...o,
});
const V1 = "v1-aaaaaaaaaaaa";
const V2 = "v2-bbbbbbbbbbbb";
const V3 = "v3-cccccccccccc";

describe("rollout steps", () => {
  it.each([
    [[10, 50, 100], [10, 50, 100]],
    [[25], [25, 100]],
    [[100], [100]],
  ])("%j runs as %j", (steps, want) => expect(rolloutSteps({ ...policy, steps })).toEqual(want));
  it.each([[10, 50], [50, 100], [99, 100]])("after %i comes %i", (w, want) => expect(nextWeight(policy, w)).toBe(want));
});

describe("rampStart", () => {
  it.each<[string, Parameters<typeof rampStart>, unknown]>([
    ["no policy: today's behaviour", [undefined, "greeter", V2, 0, [dep(V1)]], { why: "no rollout policy" }],
    ["first version", [policy, "greeter", V1, 0, []], { why: expect.stringContaining("first version") }],
    ["over a serving version", [policy, "greeter", V2, 0, [dep(V1)]], { ramp: { from: V1, to: V2, weight: 10 } }],
    ["not latest is not serving", [policy, "greeter", V2, 0, [dep(V1, { latestFor: [] })]], { why: expect.stringContaining("first version") }],
    ["another cell", [policy, "greeter", V2, 1, [dep(V1)]], { why: expect.stringContaining("one cell") }],
    ["mid-ramp: from the ramp's old version", [policy, "greeter", V3, 0, [dep(V2, { ramp: { from: V1, to: V2, weight: 50 } })]], { ramp: { from: V1, to: V3, weight: 10 } }],
    ["first step 100", [{ ...policy, steps: [100] }, "greeter", V2, 0, [dep(V1)]], { why: expect.stringContaining("100%") }],
    ["another cell, the old version served there too", [policy, "greeter", V2, 1, [dep(V1, { cell: 4 })], [{ ref: { service: "greeter", version: V1 }, cell: 1 }]], { ramp: { from: V1, to: V2, weight: 10 } }],
    ["another cell, the old version served in a third", [policy, "greeter", V2, 1, [dep(V1, { cell: 4 })], [{ ref: { service: "greeter", version: V1 }, cell: 2 }]], { why: expect.stringContaining("one cell") }],
  ])("%s", (_name, args, want) => expect(rampStart(...args)).toEqual(want));
});

describe("rampCompanions (cells 0-3, lanes from 4)", () => {
  const FIRST_LANE = 4;
  it.each<[string, Parameters<typeof rampCompanions>, unknown]>([
    ["no lanes in play", [[dep(V1)], [{ service: "greeter", cell: 0 }], FIRST_LANE], []],
    ["a version starting to ramp in a cell from one on a lane: the old one is served there too", [[dep(V1, { cell: 5 })], [{ service: "greeter", cell: 1 }], FIRST_LANE], [{ ref: { service: "greeter", version: V1 }, cell: 1 }]],
    ["a running ramp in a cell whose old version is on a lane", [[dep(V1, { cell: 5, latestFor: [] }), dep(V2, { cell: 1, createdAt: "2026-01-02T00:00:00Z", ramp: { from: V1, to: V2, weight: 10 } })], [], FIRST_LANE], [{ ref: { service: "greeter", version: V1 }, cell: 1 }]],
    ["a ramp no longer latest (promoted, draining) keeps its old version beside it", [[dep(V1, { cell: 5, latestFor: [] }), dep(V2, { cell: 1, latestFor: [], ramp: { from: V1, to: V2, weight: 50 } }), dep(V2, { cell: 1, deploymentId: "dp_promoted", createdAt: "2026-01-03T00:00:00Z" })], [], FIRST_LANE], [{ ref: { service: "greeter", version: V1 }, cell: 1 }]],
    ["at start-up (no latestFor yet): every registered ramp counts", [[dep(V1, { cell: 5, latestFor: undefined }), dep(V2, { cell: 1, latestFor: undefined, ramp: { from: V1, to: V2, weight: 10 } })], [], FIRST_LANE], [{ ref: { service: "greeter", version: V1 }, cell: 1 }]],
    ["a new version on a lane itself: nothing (it takes every call at once)", [[dep(V1, { cell: 5 })], [{ service: "greeter", cell: 6 }], FIRST_LANE], []],
    ["first version of a service", [[], [{ service: "greeter", cell: 0 }], FIRST_LANE], []],
  ])("%s", (_name, args, want) => expect(rampCompanions(...args)).toEqual(want));
});

describe("judge", () => {
  const min = 60_000;
  it.each<[string, { old: RolloutCounts; new: RolloutCounts }, number, string]>([
    ["healthy, step over", { old: c(100), new: c(30) }, min, "advance"],
    ["healthy, step running", { old: c(100), new: c(30) }, 10_000, "hold"],
    ["too few calls", { old: c(100), new: c(5) }, min, "hold"],
    ["within the ratio", { old: c(100), new: c(100, { retrying: 2 }) }, min, "advance"],
    ["over the ratio", { old: c(100), new: c(100, { failed: 3 }) }, min, "abort"],
    ["one failure among the first calls", { old: c(10), new: c(3, { retrying: 1 }) }, 1000, "abort"],
    ["a paused invocation", { old: c(100), new: c(100, { paused: 1 }) }, min, "abort"],
    ["both versions fail alike", { old: c(100, { failed: 10 }), new: c(30, { failed: 3 }) }, min, "advance"],
    ["worse than the old version", { old: c(100, { failed: 5 }), new: c(30, { failed: 6 }) }, min, "abort"],
  ])("%s", (_name, counts, elapsed, want) => {
    const v = judge(policy, counts, elapsed);
    expect(v.decision).toBe(want);
    expect(v.reason.length).toBeGreaterThan(0);
  });
});
