// Status tells the truth about faults: a serving version with a poisoned invocation, or one whose
// cell went down with it in flight lately, is Degraded and not Ready; its poisoned invocations are
// listed under it. Without a fault record (or with nothing in it), status is as before.
import { describe, expect, it } from "vitest";
import { FaultRecord, type BlamedInvocation } from "../../reconciler/reconcile/poison.ts";
import type { Observation } from "../../reconciler/reconcile/observe.ts";
import { buildStatus, type StatusInput } from "../../reconciler/reconcile/status-view.ts";
import { statusInput } from "../helpers/status-input.ts";

const NOW = "2026-12-03T10:00:00.000Z";
const spin: BlamedInvocation = { id: "inv_spin", service: "poison", version: "v-1", restateService: "Poison", handler: "spin", target: "Poison/spin" };

function input(faults?: FaultRecord): StatusInput {
  // Only what buildStatus reads of an observation.
  const o = {
    deployments: [
      { service: "poison", version: "v-1", deploymentId: "dp_p1", createdAt: "2026-12-03T09:00:00Z", latestFor: ["Poison"], metadata: {}, restateServices: ["Poison"] },
      { service: "greeter", version: "v-9", deploymentId: "dp_g9", createdAt: "2026-12-03T09:00:00Z", latestFor: ["Greeter"], metadata: {}, restateServices: ["Greeter"] },
    ],
    desired: new Map([["poison", { spec: { version: "v-1" } }], ["greeter", { spec: { version: "v-9" } }]]),
    stored: [],
  } as unknown as Observation;
  return statusInput({ observation: o, now: NOW, served: [{ service: "poison", version: "v-1" }, { service: "greeter", version: "v-9" }] }, faults ? { faults } : {});
}

const condition = (s: ReturnType<typeof buildStatus>, service: string, type: string) =>
  s.services.find((x) => x.service === service)!.conditions.find((c) => c.type === type)!;

describe("buildStatus: Degraded", () => {
  it("without faults: Ready, and Degraded false", () => {
    for (const s of [buildStatus(input()), buildStatus(input(new FaultRecord()))]) {
      expect(condition(s, "poison", "Ready").status).toBe(true);
      expect(condition(s, "poison", "Degraded")).toMatchObject({ status: false, reason: "", message: "" });
      expect(s.services.find((x) => x.service === "poison")!.versions[0]!.poisoned).toBeUndefined();
    }
  });

  it("a recent fault with one of its invocations in flight: Degraded with the kind, not Ready; other services untouched", () => {
    const r = new FaultRecord();
    r.record({ cell: 1, kind: "hang", at: Date.parse(NOW) - 1000, pid: 10, generation: 1, detail: "health route unanswered for 5000 ms", holds: ["poison/v-1"], blamed: [spin] });
    const s = buildStatus(input(r));
    expect(condition(s, "poison", "Degraded")).toMatchObject({ status: true, reason: "CellHung" });
    expect(condition(s, "poison", "Ready").status).toBe(false);
    expect(condition(s, "greeter", "Ready").status).toBe(true);
    expect(condition(s, "greeter", "Degraded").status).toBe(false);
  });

  it("a poisoned invocation: listed under its version, and the service Degraded with what ends it", () => {
    const r = new FaultRecord({ killsToPause: 1 });
    r.record({ cell: 1, kind: "memory", at: Date.parse(NOW) - 3_600_000, pid: 10, generation: 1, detail: "resident memory 900 MB", holds: ["poison/v-1"], blamed: [spin] });
    r.poisoned(spin, "memory", Date.parse(NOW) - 3_600_000);
    const s = buildStatus(input(r));
    const row = s.services.find((x) => x.service === "poison")!.versions.find((v) => v.version === "v-1")!;
    expect(row.poisoned).toMatchObject([{ id: "inv_spin", how: "memory", target: "Poison/spin", resolve: ["gridiron resume inv_spin --deployment latest", "gridiron kill inv_spin"] }]);
    expect(condition(s, "poison", "Degraded")).toMatchObject({ status: true, reason: "PoisonedInvocations" });
    expect(condition(s, "poison", "Degraded").message).toContain("gridiron kill inv_spin");
    expect(condition(s, "poison", "Ready").status).toBe(false);
  });
});
