// What buildStatus (reconcile/status-view.ts) needs, for unit tests: an observation, the plan's
// actions and what workerd serves; everything else empty.
import type { Observation } from "../../reconciler/reconcile/observe.ts";
import type { StatusInput } from "../../reconciler/reconcile/status-view.ts";
import type { VersionRef } from "../../reconciler/source/names.ts";

export function statusInput(o: { observation: unknown; actions?: unknown[]; served: VersionRef[]; now: string }, extra: Partial<StatusInput> = {}): StatusInput {
  return {
    last: { o: o.observation as Observation, plan: { actions: o.actions ?? [] } as never },
    now: o.now,
    served: o.served,
    failedVersions: new Map(),
    serviceErrors: new Map(),
    pins: new Map(),
    conditionMemory: new Map(),
    source: { kind: "folder", location: "bundles" },
    workerd: { url: "http://127.0.0.1:9080", generation: 1, mode: "loader" },
    restate: { ingressUrl: "", adminUrl: "" },
    history: [],
    ...extra,
  };
}
