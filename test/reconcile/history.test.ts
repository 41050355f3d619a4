import { describe, expect, it } from "vitest";
import type { ReconcileResult } from "../../reconciler/reconcile/status.ts";
import { recordPass } from "../../reconciler/reconcile/status-view.ts";

let id = 0;
const pass = (trigger: string, outcome: ReconcileResult["outcome"] = "noop", extra: Partial<ReconcileResult> = {}): ReconcileResult =>
  ({ id: ++id, trigger, startedAt: "", durationMs: 1, outcome, actions: [], deployed: [], errors: [], ...extra });

describe("recordPass", () => {
  it("a run of quiet polls of one kind keeps only the newest; anything else is kept", () => {
    const h: ReconcileResult[] = [];
    for (const p of [pass("change", "ok"), pass("rollout"), pass("rollout"), pass("rollout"), pass("drain"), pass("drain"), pass("resync"), pass("rollout")]) recordPass(h, p, 10);
    expect(h.map((r) => `${r.trigger}#${r.id}`)).toEqual(["rollout#8", "resync#7", "drain#6", "rollout#4", "change#1"]);
  });

  it("a poll that did something, stepped a rollout or failed is never folded, and the history keeps at most max", () => {
    const h: ReconcileResult[] = [];
    recordPass(h, pass("rollout"), 3);
    recordPass(h, pass("rollout", "noop", { rollouts: [{ service: "s", from: "a", to: "b", event: "step", weight: 50, reason: "" }] }), 3);
    recordPass(h, pass("drain", "ok"), 3);
    recordPass(h, pass("drain", "error"), 3);
    expect(h.map((r) => r.outcome)).toEqual(["error", "ok", "noop"]);
    expect(h[2]!.rollouts).toHaveLength(1);
  });
});
