import { describe, expect, it } from "vitest";
import { deriveEvents, scopeOf, type NotifyEvent, type NotifyScope, type NotifySeen } from "../../reconciler/node/notify-events.ts";
import type { Condition, ReconcileResult, ServiceStatus, Status } from "../../reconciler/reconcile/status.ts";
import type { PoisonedInvocation } from "../../reconciler/reconcile/poison.ts";

const ALL: NotifyScope = { registry: true, local: true };
const T = "2026-01-01T00:00:00.000Z";

function svc(service: string, over: Partial<ServiceStatus> & { degraded?: [string, string] } = {}): ServiceStatus {
  const { degraded, ...rest } = over;
  const conditions: Condition[] = [{ type: "Degraded", status: !!degraded, reason: degraded?.[0] ?? "", message: degraded?.[1] ?? "", since: T }];
  return { service, conditions, versions: [], ...rest };
}

type Pass = Pick<ReconcileResult, "deployed" | "rollouts" | "revision">;
const pass = (over: Partial<Pass> = {}): Pass => ({ deployed: [], ...over });

/** Runs passes in order, each with the seen state the one before left. */
function run(steps: [Pass, ServiceStatus[]][], scope = ALL): NotifyEvent[][] {
  let seen: NotifySeen | undefined;
  return steps.map(([result, services]) => {
    const out = deriveEvents(seen, result, { services }, scope);
    seen = out.seen;
    return out.events;
  });
}

const poisoned = (id: string): PoisonedInvocation => ({
  id, service: "svc", version: "v2", restateService: "Svc", handler: "spin", target: "Svc/spin", how: "hang", kills: 3, pausedAt: T, resolve: [`gridiron resume ${id} --deployment latest`, `gridiron kill ${id}`],
});

describe("deriveEvents", () => {
  it("a version made latest is a deploy, with the version it replaced and the revision", () => {
    const [first, second] = run([
      [pass({ deployed: [{ service: "svc", version: "v1" }], revision: "r1" }), [svc("svc", { serving: "v1" })]],
      [pass({ deployed: [{ service: "svc", version: "v2" }], revision: "r2" }), [svc("svc", { serving: "v2" })]],
    ]);
    expect(first).toEqual([{ type: "deploy", service: "svc", version: "v1", weight: 100, revision: "r1" }]);
    expect(second).toEqual([{ type: "deploy", service: "svc", version: "v2", from: "v1", weight: 100, revision: "r2" }]);
  });

  it("a version registered behind a ramp is a deploy at the ramp's first weight", () => {
    const rollout = { from: "v1", to: "v2", weight: 10, steps: [10, 50, 100], counts: {} as never, decision: "hold" as const, reason: "ramp registered", at: T };
    const [, events] = run([
      [pass(), [svc("svc", { serving: "v1" })]],
      [pass({ deployed: [{ service: "svc", version: "v2" }] }), [svc("svc", { serving: "v2", rollout })]],
    ]);
    expect(events).toEqual([{ type: "deploy", service: "svc", version: "v2", from: "v1", weight: 10 }]);
  });

  it("rollout steps, done and aborts follow the pass's deploys", () => {
    const [events] = run([[pass({
      deployed: [{ service: "b", version: "w1" }],
      rollouts: [
        { service: "svc", from: "v1", to: "v2", event: "step", weight: 50, reason: "no worse" },
        { service: "svc", from: "v1", to: "v2", event: "done", weight: 100, reason: "no worse" },
        { service: "c", from: "x1", to: "x2", event: "abort", weight: 0, reason: "failure ratio 0.5 above 0.02" },
      ],
    }), [svc("b", { serving: "w1" })]]]);
    expect(events!.map((e) => e.type)).toEqual(["deploy", "rollout.step", "rollout.done", "rollout.abort"]);
    expect(events![3]).toEqual({ type: "rollout.abort", service: "c", from: "x1", to: "x2", weight: 0, reason: "failure ratio 0.5 above 0.02" });
  });

  it("the pinned version made latest again is a rollback: automatic after an abort, else manual", () => {
    const [, abort, rolledBack, manual] = run([
      [pass(), [svc("svc", { serving: "v2" })]],
      [pass({ rollouts: [{ service: "svc", from: "v1", to: "v2", event: "abort", weight: 0, reason: "paused" }] }), [svc("svc", { serving: "v2", pinned: "v1" })]],
      [pass({ deployed: [{ service: "svc", version: "v1" }] }), [svc("svc", { serving: "v1", pinned: "v1" })]],
      [pass({ deployed: [{ service: "svc", version: "v0" }] }), [svc("svc", { serving: "v0", pinned: "v0" })]],
    ]);
    expect(abort!.map((e) => e.type)).toEqual(["rollout.abort"]);
    expect(rolledBack).toEqual([{ type: "rollback", service: "svc", version: "v1", from: "v2", cause: "rollout-abort" }]);
    expect(manual).toEqual([{ type: "rollback", service: "svc", version: "v0", from: "v1", cause: "manual" }]);
  });

  it("a service's error is sent when it appears or changes, once, with the refused version", () => {
    const error = { code: "VERSION_INVALID", message: "index.js:4:3: Expected )", since: T };
    const refused = svc("broken", { error, versions: [{ version: "b1", state: "failed", reason: error.message }] });
    const events = run([
      [pass(), [refused]],
      [pass(), [refused]],
      [pass(), [svc("broken", { error: { ...error, code: "BUNDLE_INVALID", message: "gridiron.json: bad key" } })]],
      [pass(), [svc("broken", { serving: "b2" })]],
      [pass(), [refused]],
    ]);
    expect(events[0]).toEqual([{ type: "version.failed", service: "broken", version: "b1", condition: "Failed", code: "VERSION_INVALID", message: error.message }]);
    expect(events[1]).toEqual([]);
    expect(events[2]).toEqual([{ type: "version.failed", service: "broken", condition: "Failed", code: "BUNDLE_INVALID", message: "gridiron.json: bad key" }]);
    expect(events[3]).toEqual([]);
    expect(events[4]!.map((e) => e.type)).toEqual(["version.failed"]);
  });

  it("a Degraded serving version is sent when it turns Degraded, not on every pass", () => {
    const events = run([
      [pass(), [svc("svc", { serving: "v1" })]],
      [pass(), [svc("svc", { serving: "v1", degraded: ["CellHung", "cell 0 hung"] })]],
      [pass(), [svc("svc", { serving: "v1", degraded: ["PoisonedInvocations", "inv_1 paused"] })]],
      [pass(), [svc("svc", { serving: "v1" })]],
      [pass(), [svc("svc", { serving: "v1", degraded: ["CellCrashed", "cell 0 crashed"] })]],
    ]);
    expect(events[1]).toEqual([{ type: "version.failed", service: "svc", version: "v1", condition: "Degraded", code: "CellHung", message: "cell 0 hung" }]);
    expect(events[2]).toEqual([]);
    expect(events[3]).toEqual([]);
    expect(events[4]!.map((e) => "code" in e && e.code)).toEqual(["CellCrashed"]);
  });

  it("an invocation paused as poison is sent once, and again if it is paused again after a release", () => {
    const with1 = svc("svc", { serving: "v2", versions: [{ version: "v2", state: "serving", poisoned: [poisoned("inv_1")] }] });
    const events = run([[pass(), [with1]], [pass(), [with1]], [pass(), [svc("svc", { serving: "v2" })]], [pass(), [with1]]]);
    expect(events[0]).toEqual([{
      type: "invocation.paused", service: "svc", version: "v2", invocation: "inv_1", target: "Svc/spin", how: "hang", kills: 3,
      resolve: ["gridiron resume inv_1 --deployment latest", "gridiron kill inv_1"],
    }]);
    expect(events.slice(1).map((e) => e.length)).toEqual([0, 0, 1]);
  });

  it("registry events only where the registry is written, node events only where cells run; seen is kept either way", () => {
    const error = { code: "VERSION_INVALID", message: "bad", since: T };
    const services = [svc("svc", { serving: "v1", error, versions: [{ version: "v1", state: "serving", poisoned: [poisoned("inv_1")] }] })];
    const result = pass({ deployed: [{ service: "svc", version: "v1" }] });
    const types = (scope: NotifyScope) => deriveEvents(undefined, result, { services }, scope).events.map((e) => e.type);
    expect(types({ registry: true, local: false })).toEqual(["deploy", "version.failed"]);
    expect(types({ registry: false, local: true })).toEqual(["invocation.paused"]);
    // A version this process could not store is its own: sent whatever the role.
    const unstored = [svc("svc", { serving: "v1", error: { code: "STORE_UNWRITABLE", message: "no space left", since: T } })];
    for (const scope of [ALL, { registry: false, local: true }, { registry: true, local: false }, { registry: false, local: false }]) {
      expect(deriveEvents(undefined, pass(), { services: unstored }, scope).events).toEqual([
        { type: "version.failed", service: "svc", condition: "Failed", code: "STORE_UNWRITABLE", message: "no space left" },
      ]);
    }
    // A standby registrar that takes over does not resend what it already saw.
    const standby = deriveEvents(undefined, pass(), { services }, { registry: false, local: false });
    expect(deriveEvents(standby.seen, pass(), { services }, ALL).events).toEqual([]);
  });
});

describe("scopeOf", () => {
  it.each([
    ["no cluster line (one machine)", undefined, { registry: true, local: true }],
    ["all", { role: "all" }, { registry: true, local: true }],
    ["node", { role: "node" }, { registry: false, local: true }],
    ["registrar holding the lock", { role: "registrar", lock: { held: true, holder: "me" } }, { registry: true, local: false }],
    ["standby registrar", { role: "registrar", lock: { held: false, holder: "other" } }, { registry: false, local: false }],
  ] as [string, Status["cluster"], NotifyScope][])("%s", (_name, cluster, scope) => {
    expect(scopeOf({ cluster })).toEqual(scope);
  });
});
