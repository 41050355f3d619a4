// The gate decides what a pass leaves alone, from one observation; every rule is a row here.
import { describe, expect, it } from "vitest";
import { GridironError } from "../../reconciler/core/errors.ts";
import { conflicts, gate, heldBySource, outcomeOf, removedHandlers, retries, suspendedServices, suspensionOf, toProbe, type Probe } from "../../reconciler/reconcile/gate.ts";
import type { Observation, ObservedDeployment } from "../../reconciler/reconcile/observe.ts";
import { pinDecisions } from "../../reconciler/reconcile/pins.ts";
import type { BundleSpec } from "../../reconciler/source/bundle.ts";
import type { Pin } from "../../reconciler/store/pins.ts";
import { MESH, type Suspension } from "../../reconciler/store/suspensions.ts";
import type { StoredVersion } from "../../reconciler/store/versions.ts";
import type { ValidationResult } from "../../reconciler/workerd/validate.ts";

const V = (label: string) => `${label}-${"0".repeat(12)}`;

function spec(service: string, version: string, breaking = false): BundleSpec {
  return { service, version, digest: "d", main: "index.js", compatibilityDate: "2026-11-01", compatibilityFlags: [], vars: {}, breaking, modules: [] };
}

function deployment(service: string, version: string, latestFor: string[], restateServices = latestFor): ObservedDeployment {
  return { service, version, cell: 0, deploymentId: `dp_${service}_${version}`, createdAt: "2026-01-01T00:00:00Z", uri: `http://w/${service}/${version}/`, restateServices, metadata: {}, latestFor, blocking: [] };
}

function observation(o: {
  desired?: BundleSpec[];
  errors?: string[];
  deployments?: ObservedDeployment[];
  catalog?: [string, string[]][];
  empty?: boolean;
  allowEmpty?: boolean;
}): Observation {
  const desired = new Map((o.desired ?? []).map((s) => [s.service, { spec: s, files: new Map() }]));
  return {
    revision: "folder:/x",
    desired,
    sourceVersions: new Map([...desired].map(([k, c]) => [k, c.spec.version])),
    errors: new Map((o.errors ?? []).map((s) => [s, new GridironError("BUNDLE_INVALID", `bundle "${s}": broken`)])),
    empty: o.empty ?? false,
    allowEmpty: o.allowEmpty ?? false,
    deployments: o.deployments ?? [],
    catalog: (o.catalog ?? []).map(([name, handlers]) => ({ name, handlers, deploymentId: "dp" })),
    stored: [],
  };
}

const ok = (services: Record<string, string[]>): ValidationResult => ({ restateServices: Object.keys(services), handlers: new Map(Object.entries(services)), ms: 1 });
const refusedBy = (message: string) => new GridironError("VERSION_INVALID", message);

describe("heldBySource", () => {
  const cases: { name: string; o: Observation; failed?: string[]; held: string[] }[] = [
    { name: "nothing wrong: nothing held", o: observation({ desired: [spec("a", V("v1"))] }), held: [] },
    { name: "a broken bundle holds its service", o: observation({ desired: [spec("a", V("v1"))], errors: ["b"] }), held: ["b"] },
    { name: "a version refused before holds its service", o: observation({ desired: [spec("a", V("v2"))] }), failed: [`a/${V("v2")}`], held: ["a"] },
    { name: "a refused older version does not hold a newer one", o: observation({ desired: [spec("a", V("v3"))] }), failed: [`a/${V("v2")}`], held: [] },
    {
      name: "an empty source holds everything registered",
      o: observation({ empty: true, deployments: [deployment("a", V("v1"), ["A"]), deployment("b", V("v1"), ["B"])] }),
      held: ["a", "b"],
    },
    { name: "an empty source with the opt-in holds nothing", o: observation({ empty: true, allowEmpty: true, deployments: [deployment("a", V("v1"), ["A"])] }), held: [] },
  ];
  it.each(cases)("$name", ({ o, failed, held }) => {
    expect([...heldBySource(o, new Map((failed ?? []).map((k) => [k, true])))].sort()).toEqual(held);
  });
});

describe("toProbe", () => {
  it("names desired versions new to workerd that are not held, in key order", () => {
    const o = observation({ desired: [spec("b", V("v2")), spec("a", V("v1")), spec("c", V("v1"))], errors: ["d"] });
    const got = toProbe(o, new Map([[`c/${V("v1")}`, true]]), [{ service: "a", version: V("v1") }]);
    expect(got.map((c) => c.spec.service)).toEqual(["b"]);
  });
});

describe("gate", () => {
  const current = [deployment("counter", V("v1"), ["Counter"])];
  const catalog: [string, string[]][] = [["Counter", ["add", "get", "reset"]]];
  const cases: {
    name: string;
    o: Observation;
    probes: [string, Probe][];
    provides?: [string, string[]][];
    suspended?: string[];
    held: string[];
    refused: [string, string, boolean][];
    accepted: string[];
  }[] = [
    {
      name: "a version that keeps every handler is accepted",
      o: observation({ desired: [spec("counter", V("v2"))], deployments: current, catalog }),
      probes: [[`counter/${V("v2")}`, ok({ Counter: ["add", "get", "reset", "more"] })]],
      held: [], refused: [], accepted: ["counter"],
    },
    {
      name: "a removed handler without the opt-in is a breaking change, remembered",
      o: observation({ desired: [spec("counter", V("v2"))], deployments: current, catalog }),
      probes: [[`counter/${V("v2")}`, ok({ Counter: ["add", "get"] })]],
      held: ["counter"], refused: [["counter", "BREAKING_CHANGE", true]], accepted: [],
    },
    {
      name: "a removed handler with the opt-in is accepted",
      o: observation({ desired: [spec("counter", V("v2"), true)], deployments: current, catalog }),
      probes: [[`counter/${V("v2")}`, ok({ Counter: ["add"] })]],
      held: [], refused: [], accepted: ["counter"],
    },
    {
      name: "a removed Restate service is a breaking change",
      o: observation({ desired: [spec("counter", V("v2"))], deployments: current, catalog }),
      probes: [[`counter/${V("v2")}`, ok({ Tally: ["add"] })]],
      held: ["counter"], refused: [["counter", "BREAKING_CHANGE", true]], accepted: [],
    },
    {
      name: "a version the scratch workerd refused is remembered and held",
      o: observation({ desired: [spec("counter", V("v2"))], deployments: current, catalog }),
      probes: [[`counter/${V("v2")}`, refusedBy("SyntaxError")]],
      held: ["counter"], refused: [["counter", "VERSION_INVALID", true]], accepted: [],
    },
    {
      name: "a newcomer providing a Restate service another present bundle serves is a conflict, not remembered",
      o: observation({ desired: [spec("counter", V("v1")), spec("copycat", V("v1"))], deployments: current, catalog }),
      probes: [[`copycat/${V("v1")}`, ok({ Counter: ["add"] })]],
      held: ["copycat"], refused: [["copycat", "SERVICE_CONFLICT", false]], accepted: [],
    },
    {
      name: "the owner keeps its Restate service while its own bundle is broken",
      o: observation({ desired: [spec("copycat", V("v1"))], errors: ["counter"], deployments: current, catalog }),
      probes: [[`copycat/${V("v1")}`, ok({ Counter: ["add"] })]],
      held: ["copycat", "counter"], refused: [["copycat", "SERVICE_CONFLICT", false]], accepted: [],
    },
    {
      name: "a Restate service whose owner left the source may move to another bundle",
      o: observation({ desired: [spec("copycat", V("v1"))], deployments: current, catalog }),
      probes: [[`copycat/${V("v1")}`, ok({ Counter: ["add", "get", "reset"] })]],
      held: [], refused: [], accepted: ["copycat"],
    },
    {
      name: "what an earlier pass learnt a version provides counts in conflicts",
      o: observation({ desired: [spec("counter", V("v1")), spec("copycat", V("v1"))], deployments: current, catalog }),
      probes: [],
      provides: [[`copycat/${V("v1")}`, ["Counter"]]],
      held: ["copycat"], refused: [["copycat", "SERVICE_CONFLICT", false]], accepted: [],
    },
    {
      name: "a probe of a held service is ignored",
      o: observation({ desired: [spec("counter", V("v2"))], errors: ["counter"], deployments: current, catalog }),
      probes: [[`counter/${V("v2")}`, ok({ Counter: [] })]],
      held: ["counter"], refused: [], accepted: [],
    },
    {
      name: "a suspended service is held: its new version is neither accepted nor refused",
      o: observation({ desired: [spec("counter", V("v2"))], deployments: current, catalog }),
      probes: [[`counter/${V("v2")}`, ok({ Counter: ["add", "get", "reset"] })]],
      suspended: ["counter"],
      held: ["counter"], refused: [], accepted: [],
    },
    {
      name: "a suspended service's broken new version is not remembered as refused (it was never judged)",
      o: observation({ desired: [spec("counter", V("v2"))], deployments: current, catalog }),
      probes: [[`counter/${V("v2")}`, refusedBy("SyntaxError")]],
      suspended: ["counter"],
      held: ["counter"], refused: [], accepted: [],
    },
    {
      name: "a suspended service keeps its Restate services against a newcomer",
      o: observation({ desired: [spec("counter", V("v2")), spec("copycat", V("v1"))], deployments: current, catalog }),
      probes: [[`copycat/${V("v1")}`, ok({ Counter: ["add"] })]],
      suspended: ["counter"],
      held: ["copycat", "counter"], refused: [["copycat", "SERVICE_CONFLICT", false]], accepted: [],
    },
    {
      name: "a suspension holds only its own service",
      o: observation({ desired: [spec("counter", V("v2")), spec("greeter", V("v2"))], deployments: current, catalog }),
      probes: [[`counter/${V("v2")}`, ok({ Counter: ["add", "get", "reset"] })], [`greeter/${V("v2")}`, ok({ Greeter: ["greet"] })]],
      suspended: ["greeter"],
      held: ["greeter"], refused: [], accepted: ["counter"],
    },
  ];
  it.each(cases)("$name", ({ o, probes, provides, suspended, held, refused, accepted }) => {
    const g = gate({ observation: o, failed: new Map(), provides: new Map(provides ?? []), probes: new Map(probes), suspended: new Set(suspended ?? []) });
    expect([...g.held].sort()).toEqual(held);
    expect([...g.suspended].sort()).toEqual(suspended ?? []);
    expect(g.refused.map((r) => [r.service, r.error.code, r.remember])).toEqual(refused);
    expect(g.accepted.map((a) => a.service)).toEqual(accepted);
  });

  it("says when an empty source is refused", () => {
    expect(gate({ observation: observation({ empty: true }), failed: new Map(), provides: new Map(), probes: new Map() }).emptySource).toBe(true);
    expect(gate({ observation: observation({ empty: true, allowEmpty: true }), failed: new Map(), provides: new Map(), probes: new Map() }).emptySource).toBe(false);
  });

  it("names every removed handler, and only those of the version new calls reach", () => {
    const o = observation({ deployments: [...current, deployment("counter", V("v0"), [])], catalog });
    expect(removedHandlers(o, "counter", new Map([["Counter", ["add"]]]))).toEqual(["handler Counter/get", "handler Counter/reset"]);
    expect(conflicts(o, new Set(), new Map())).toEqual([]);
  });
});

describe("pinDecisions", () => {
  const pin = (version: string, sourceVersion: string | null): Pin => ({ version, sourceVersion, breaking: false, at: "t" });
  const stored = (service: string, version: string): StoredVersion => ({ spec: spec(service, version), bundleDir: "/d", storedAt: "t" });
  const cases: { name: string; pins: [string, Pin][]; source: [string, string][]; stored: StoredVersion[]; hold: string[]; release: [string, string][] }[] = [
    { name: "a pin holds while the source asks for what it asked when pinned", pins: [["a", pin(V("v1"), V("v2"))]], source: [["a", V("v2")]], stored: [stored("a", V("v1"))], hold: ["a"], release: [] },
    { name: "the source moved on: released", pins: [["a", pin(V("v1"), V("v2"))]], source: [["a", V("v3")]], stored: [stored("a", V("v1"))], hold: [], release: [["a", "info"]] },
    { name: "the service left the source: released", pins: [["a", pin(V("v1"), V("v2"))]], source: [], stored: [stored("a", V("v1"))], hold: [], release: [["a", "info"]] },
    { name: "pinned while the source had none, still none: holds", pins: [["a", pin(V("v1"), null)]], source: [], stored: [stored("a", V("v1"))], hold: ["a"], release: [] },
    { name: "the pinned version left the store: released with a warning", pins: [["a", pin(V("v1"), V("v2"))]], source: [["a", V("v2")]], stored: [], hold: [], release: [["a", "warn"]] },
  ];
  it.each(cases)("$name", ({ pins, source, stored: s, hold, release }) => {
    const d = pinDecisions(pins, new Map(source), s);
    expect(d.hold.map((h) => h.service)).toEqual(hold);
    expect(d.release.map((r) => [r.service, r.level])).toEqual(release);
  });
});

describe("outcome and retry", () => {
  const a = [{ type: "store" as const, service: "a", version: V("v1") }];
  const e = (kind: string) => [{ code: "X", kind, message: "m" }];
  const cases: { name: string; actions: typeof a; errors: { code: string; kind: string; message: string }[]; deployed: number; outcome: string; retry: boolean }[] = [
    { name: "nothing to do", actions: [], errors: [], deployed: 0, outcome: "noop", retry: false },
    { name: "did something", actions: a, errors: [], deployed: 1, outcome: "ok", retry: false },
    { name: "a transient failure before anything happened", actions: [], errors: e("waiting"), deployed: 0, outcome: "error", retry: true },
    { name: "a bad bundle needs a human, not a retry", actions: [], errors: e("stalled"), deployed: 0, outcome: "error", retry: false },
    { name: "a failure after a deploy: partial, no backoff", actions: a, errors: e("failed"), deployed: 1, outcome: "partial", retry: false },
  ];
  it.each(cases)("$name", ({ actions, errors, deployed, outcome, retry }) => {
    const r = { actions, errors, deployed: Array.from({ length: deployed }, () => ({ service: "a", version: V("v1") })) };
    expect(outcomeOf(r)).toBe(outcome);
    expect(retries(r)).toBe(retry);
  });
});

describe("suspensions", () => {
  const s = (since = "2026-11-01T00:00:00Z"): Suspension => ({ since });
  const o = {
    ...observation({ desired: [spec("a", V("v2"))], errors: ["b"], deployments: [deployment("a", V("v1"), ["A"]), deployment("c", V("v1"), ["C"]), deployment("gridiron-system", V("v1"), ["GridironLock"])] }),
    stored: [{ spec: spec("d", V("v1")), bundleDir: "/d", storedAt: "t" }],
  };
  const served = [{ service: "e", version: V("v1") }];
  const cases: { name: string; suspensions: [string, Suspension][]; exempt?: string[]; frozen: string[] }[] = [
    { name: "none: nothing frozen", suspensions: [], frozen: [] },
    { name: "one service by name: only it", suspensions: [["a", s()]], frozen: ["a"] },
    { name: "a service with a broken bundle, by name", suspensions: [["b", s()]], frozen: ["b"] },
    { name: "a name the pass does not know is kept (it may come back)", suspensions: [["zz", s()]], frozen: ["zz"] },
    {
      name: "the whole mesh: every service in the source, registered, stored or served",
      suspensions: [[MESH, s()]],
      frozen: ["a", "b", "c", "d", "e", "gridiron-system"],
    },
    { name: "the whole mesh, but never Gridiron's own bundle (the cluster's lock)", suspensions: [[MESH, s()]], exempt: ["gridiron-system"], frozen: ["a", "b", "c", "d", "e"] },
    { name: "an exempt service by name: not frozen", suspensions: [["gridiron-system", s()], ["a", s()]], exempt: ["gridiron-system"], frozen: ["a"] },
  ];
  it.each(cases)("$name", ({ suspensions, exempt, frozen }) => {
    expect([...suspendedServices(o, new Map(suspensions), served, new Set(exempt ?? []))].sort()).toEqual(frozen);
  });

  it("a suspended service is held before probing, so its new version is never probed", () => {
    expect([...heldBySource(o, new Map(), new Set(["a"]))].sort()).toEqual(["a", "b"]);
    expect(toProbe(o, new Map(), [], new Set(["a"]))).toEqual([]);
    expect(toProbe(o, new Map(), []).map((c) => c.spec.service)).toEqual(["a"]);
  });

  it("a service's own suspension is the one status shows; else the mesh's; never for an exempt one", () => {
    const all = new Map<string, Suspension>([[MESH, { since: "t1", reason: "freeze" }], ["a", { since: "t2", by: "ana@box" }]]);
    expect(suspensionOf("a", all)).toEqual({ since: "t2", by: "ana@box", scope: "service" });
    expect(suspensionOf("b", all)).toEqual({ since: "t1", reason: "freeze", scope: "mesh" });
    expect(suspensionOf("b", new Map([["a", s()]]))).toBeUndefined();
    expect(suspensionOf("gridiron-system", all, new Set(["gridiron-system"]))).toBeUndefined();
  });
});
