// Status while a ramp is latest: the old version takes the rest of the new calls through the ramp,
// so it is serving (with its share), even once its own deployment has drained away and only its
// stored copy is observed; the new version says its share too.
import { describe, expect, it } from "vitest";
import type { Observation } from "../../reconciler/reconcile/observe.ts";
import { buildStatus, type StatusInput } from "../../reconciler/reconcile/status-view.ts";
import { statusInput } from "../helpers/status-input.ts";

const NOW = "2026-12-03T10:00:00.000Z";

function input(o: { ownOldDeployment: boolean; served: string[] }): StatusInput {
  const deployments = [
    { service: "greeter", version: "v-2", deploymentId: "dp_ramp", createdAt: "2026-12-03T09:30:00Z", latestFor: ["Greeter"], metadata: {}, restateServices: ["Greeter"], ramp: { from: "v-1", to: "v-2", weight: 25 } },
    ...(o.ownOldDeployment ? [{ service: "greeter", version: "v-1", deploymentId: "dp_v1", createdAt: "2026-12-03T09:00:00Z", latestFor: [], metadata: {}, restateServices: ["Greeter"] }] : []),
  ];
  const obs = {
    deployments,
    desired: new Map([["greeter", { spec: { version: "v-2" } }]]),
    stored: [{ spec: { service: "greeter", version: "v-1", digest: "d1" }, storedAt: "2026-12-03T09:00:00Z" }],
  } as unknown as Observation;
  return statusInput({
    observation: obs,
    actions: o.ownOldDeployment ? [{ type: "drain", service: "greeter", version: "v-1", deploymentId: "dp_v1", blocking: 0, invocations: [], stuck: false }] : [],
    now: NOW,
    served: o.served.map((version) => ({ service: "greeter", version })),
  });
}

const versions = (s: ReturnType<typeof buildStatus>) => Object.fromEntries(s.services[0]!.versions.map((v) => [v.version, { state: v.state, reason: v.reason, ...(v.state === "serving" ? { restateServices: v.restateServices } : {}) }]));

describe("buildStatus while a ramp is latest", () => {
  it("the old version's own deployment drained away: it is serving its share, not merely stored", () => {
    expect(versions(buildStatus(input({ ownOldDeployment: false, served: ["v-1", "v-2"] })))).toEqual({
      "v-2": { state: "serving", reason: "the ramp sends it 25% of new calls", restateServices: ["Greeter"] },
      "v-1": { state: "serving", reason: "the ramp sends it 75% of new calls", restateServices: ["Greeter"] },
    });
  });

  it("while its own deployment still drains, that is said after its share", () => {
    const v1 = versions(buildStatus(input({ ownOldDeployment: true, served: ["v-1", "v-2"] })))["v-1"]!;
    expect(v1.state).toBe("serving");
    expect(v1.reason).toMatch(/^the ramp sends it 75% of new calls; its own deployment: drained/);
  });

  it("no longer in workerd: nothing is claimed for it", () => {
    expect(versions(buildStatus(input({ ownOldDeployment: false, served: ["v-2"] })))["v-1"]).toEqual({ state: "stored", reason: "kept on disk for rollback" });
  });
});
