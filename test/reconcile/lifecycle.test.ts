// Table tests for the version lifecycle part of plan(): drain, grace, remove, deadline, promote
// (rollback), retention. Time is an argument, so every row is exact.
import { describe, expect, it } from "vitest";
import { plan, type Action, type DrainTimer, type RegisteredVersion } from "../../reconciler/reconcile/plan.ts";
import { blockingInvocations, parseInvocationRows, type OpenInvocation } from "../../reconciler/restate/invocations.ts";

const v = (label: string) => `${label}-0123456789ab`;
const ref = (spec: string) => {
  const [service, label] = spec.split("@") as [string, string];
  return { service, version: v(label) };
};
const desired = (spec: string) => ({ ...ref(spec), digest: `sha256:${spec}` });
function reg(spec: string, extra: Partial<RegisteredVersion> = {}): RegisteredVersion {
  return { ...ref(spec), deploymentId: `dp_${spec.replace("@", "_")}${extra.deploymentId ?? ""}`, createdAt: extra.createdAt ?? "2026-11-01T00:00:00Z", latestFor: extra.latestFor ?? [], blocking: extra.blocking ?? [] };
}
const live = (spec: string) => ({ stored: [ref(spec)], served: [ref(spec)] });
const types = (actions: Action[]) => actions.map((a) => `${a.type} ${a.service}/${a.version.slice(0, 2)}`);

describe("drain → grace → remove", () => {
  const actual = (blocking: string[]) => ({
    stored: [ref("g@v1"), ref("g@v2")],
    served: [ref("g@v1"), ref("g@v2")],
    registered: [reg("g@v1", { blocking }), reg("g@v2", { latestFor: ["Greeter"], createdAt: "2026-11-02T00:00:00Z" })],
  });
  const rows: { name: string; blocking: string[]; now: number; timers?: [string, DrainTimer][]; deadlineMs?: number | null; expect: Partial<Action>[]; serveV1: boolean; timer?: DrainTimer }[] = [
    { name: "pinned invocations keep it draining", blocking: ["inv_1", "inv_2"], now: 1000, expect: [{ type: "drain", blocking: 2, invocations: ["inv_1", "inv_2"], stuck: false }], serveV1: true, timer: { retiredAt: 1000 } },
    { name: "first pass with nothing pinned starts the grace period", blocking: [], now: 1000, expect: [{ type: "drain", blocking: 0, removeAt: 31_000 }], serveV1: true, timer: { retiredAt: 1000, drainedAt: 1000 } },
    { name: "still inside the grace period", blocking: [], now: 20_000, timers: [["dp_g_v1", { retiredAt: 0, drainedAt: 1000 }]], expect: [{ type: "drain", removeAt: 31_000 }], serveV1: true, timer: { retiredAt: 0, drainedAt: 1000 } },
    { name: "grace over: remove and drop from workerd", blocking: [], now: 31_000, timers: [["dp_g_v1", { retiredAt: 0, drainedAt: 1000 }]], expect: [{ type: "remove", deploymentId: "dp_g_v1" }], serveV1: false },
    { name: "new work pinned during grace resets the drain clock", blocking: ["inv_9"], now: 20_000, timers: [["dp_g_v1", { retiredAt: 0, drainedAt: 1000 }]], expect: [{ type: "drain", blocking: 1 }], serveV1: true, timer: { retiredAt: 0 } },
    { name: "past the deadline it is stuck, never removed", blocking: ["inv_1"], now: 100_000, deadlineMs: 60_000, timers: [["dp_g_v1", { retiredAt: 0 }]], expect: [{ type: "drain", stuck: true }], serveV1: true, timer: { retiredAt: 0 } },
    { name: "deadline off: never stuck", blocking: ["inv_1"], now: 10_000_000, deadlineMs: null, timers: [["dp_g_v1", { retiredAt: 0 }]], expect: [{ type: "drain", stuck: false }], serveV1: true, timer: { retiredAt: 0 } },
  ];
  it.each(rows)("$name", (row) => {
    const p = plan([desired("g@v2")], actual(row.blocking), { now: row.now, timers: new Map(row.timers ?? []), deadlineMs: row.deadlineMs ?? null });
    expect(p.actions).toHaveLength(1);
    expect(p.actions[0]).toMatchObject({ service: "g", version: v("v1"), ...row.expect[0] });
    expect(p.serve.some((s) => s.version === v("v1"))).toBe(row.serveV1);
    expect(p.swap).toBe(!row.serveV1);
    expect(p.timers.get("dp_g_v1")).toEqual(row.timer);
  });
});

describe("rollback and duplicates", () => {
  it("a desired version that is registered but not latest is promoted", () => {
    const p = plan([desired("g@v1")], {
      ...live("g@v1"),
      stored: [ref("g@v1"), ref("g@v2")],
      served: [ref("g@v1"), ref("g@v2")],
      registered: [reg("g@v1"), reg("g@v2", { latestFor: ["Greeter"] })],
    }, { now: 0 });
    expect(types(p.actions)).toEqual(["promote g/v1", "drain g/v1", "drain g/v2"]);
  });
  it("after the promote the old URI of the same version drains and is removed without unserving it", () => {
    const p = plan([desired("g@v1")], {
      stored: [ref("g@v1")],
      served: [ref("g@v1")],
      registered: [reg("g@v1", { createdAt: "2026-11-01T00:00:00Z" }), reg("g@v1", { deploymentId: "_r2", createdAt: "2026-11-03T00:00:00Z", latestFor: ["Greeter"] })],
    }, { now: 40_000, timers: new Map([["dp_g_v1", { retiredAt: 0, drainedAt: 0 }]]) });
    expect(p.actions).toEqual([{ type: "remove", ...ref("g@v1"), deploymentId: "dp_g_v1" }]);
    expect(p.serve).toEqual([ref("g@v1")]);
    expect(p.swap).toBe(false);
  });
  it("a version deregistered earlier and desired again is simply registered", () => {
    const p = plan([desired("g@v1")], { stored: [ref("g@v1"), ref("g@v2")], served: [ref("g@v2")], registered: [reg("g@v2", { latestFor: ["Greeter"] })] }, { now: 0 });
    expect(types(p.actions)).toEqual(["serve g/v1", "register g/v1", "drain g/v2"]);
  });
});

describe("retention", () => {
  const stored = ["v1", "v2", "v3", "v4"].map((l, i) => ({ ...ref(`g@${l}`), storedAt: `2026-11-0${i + 1}T00:00:00Z` }));
  it("keeps the newest N per service and never a live one", () => {
    const p = plan([desired("g@v1")], { stored, served: [ref("g@v1")], registered: [reg("g@v1", { latestFor: ["Greeter"] })] }, { retain: 2 });
    // v4 and v3 are newest; v1 is old but live; v2 goes.
    expect(types(p.actions)).toEqual(["gc g/v2"]);
  });
  it("held services are never pruned on an empty or broken source", () => {
    const p = plan([], { stored: [ref("g@v1")], served: [ref("g@v1")], registered: [reg("g@v1", { latestFor: ["Greeter"] })] }, { held: ["g"], now: 1e9 });
    expect(p.actions).toEqual([]);
    expect(p.serve).toEqual([ref("g@v1")]);
  });
});

describe("blockingInvocations", () => {
  const latest = new Map([["Greeter", "dp_new"], ["Counter", "dp_c"]]);
  const rows: { name: string; inv: OpenInvocation[]; expect: Record<string, string[]> }[] = [
    { name: "pinned counts on its deployment", inv: [{ id: "i1", service: "Greeter", status: "suspended", pinnedDeploymentId: "dp_old" }], expect: { dp_old: ["i1"] } },
    { name: "unpinned (queued/scheduled/paused) counts on the latest for its service", inv: [{ id: "i2", service: "Greeter", status: "scheduled", pinnedDeploymentId: null }], expect: { dp_new: ["i2"] } },
    { name: "completed never counts", inv: [{ id: "i3", service: "Greeter", status: "completed", pinnedDeploymentId: "dp_old" }], expect: {} },
    { name: "unknown service without pin counts nowhere", inv: [{ id: "i4", service: "Gone", status: "inboxed" }], expect: {} },
    {
      name: "mixed",
      inv: [
        { id: "a", service: "Greeter", status: "running", pinnedDeploymentId: "dp_old" },
        { id: "b", service: "Counter", status: "inboxed" },
        { id: "c", service: "Greeter", status: "backing-off", pinnedDeploymentId: "dp_old" },
      ],
      expect: { dp_old: ["a", "c"], dp_c: ["b"] },
    },
  ];
  it.each(rows)("$name", (row) => {
    expect(Object.fromEntries(blockingInvocations(row.inv, latest))).toEqual(row.expect);
  });
  it("parses Restate's query rows (empty pinned id is none)", () => {
    expect(parseInvocationRows([{ id: "x", target_service_name: "Greeter", status: "pending", pinned_deployment_id: "" }])).toEqual([
      { id: "x", service: "Greeter", status: "pending", pinnedDeploymentId: null },
    ]);
  });
});
