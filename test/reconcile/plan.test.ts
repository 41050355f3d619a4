import { describe, expect, it } from "vitest";
import { keyOf, plan, type Action, type Actual, type DesiredVersion, type RegisteredVersion, type VersionRef } from "../../reconciler/reconcile/plan.ts";

// Compact notation: "greeter@v1" is { service: "greeter", version: "v1-0123456789ab" }.
const ver = (label: string): string => `${label}-0123456789ab`;
function ref(spec: string): VersionRef {
  const [service, label] = spec.split("@") as [string, string];
  return { service, version: ver(label) };
}
const desired = (spec: string): DesiredVersion => ({ ...ref(spec), digest: `sha256:${spec}` });
const registered = (spec: string): RegisteredVersion => ({ ...ref(spec), deploymentId: `dp_${spec.replace("@", "_")}`, createdAt: "2026-11-01T00:00:00Z" });
const act = (type: "store" | "serve" | "register", spec: string): Action => ({ type, ...ref(spec) });
// A replaced version with nothing pinned to it drains for the grace period (default 30 s) first.
const retire = (spec: string): Action => ({ type: "drain", ...ref(spec), deploymentId: registered(spec).deploymentId, blocking: 0, invocations: [], stuck: false, removeAt: 30_000 });
const orphan = (spec: string): Action => ({ type: "orphan", ...ref(spec), deploymentId: registered(spec).deploymentId });

interface Row {
  name: string;
  desired: string[];
  stored?: string[];
  served?: string[];
  registered?: string[];
  held?: string[];
  frozen?: string[];
  actions: Action[];
  serve: string[];
  swap: boolean;
}

function actualOf(row: Pick<Row, "stored" | "served" | "registered">): Actual {
  return {
    stored: (row.stored ?? []).map(ref),
    served: (row.served ?? []).map(ref),
    registered: (row.registered ?? []).map(registered),
  };
}

const ROWS: Row[] = [
  { name: "empty everything", desired: [], actions: [], serve: [], swap: false },
  {
    name: "first deploy of two services",
    desired: ["greeter@v1", "counter@v1"],
    actions: [
      act("store", "counter@v1"),
      act("serve", "counter@v1"),
      act("register", "counter@v1"),
      act("store", "greeter@v1"),
      act("serve", "greeter@v1"),
      act("register", "greeter@v1"),
    ],
    serve: ["counter@v1", "greeter@v1"],
    swap: true,
  },
  {
    name: "steady state",
    desired: ["greeter@v1", "counter@v1"],
    stored: ["greeter@v1", "counter@v1"],
    served: ["greeter@v1", "counter@v1"],
    registered: ["greeter@v1", "counter@v1"],
    actions: [],
    serve: ["counter@v1", "greeter@v1"],
    swap: false,
  },
  {
    name: "new version of one service: old one retired, both served",
    desired: ["greeter@v2", "counter@v1"],
    stored: ["greeter@v1", "counter@v1"],
    served: ["greeter@v1", "counter@v1"],
    registered: ["greeter@v1", "counter@v1"],
    actions: [act("store", "greeter@v2"), act("serve", "greeter@v2"), act("register", "greeter@v2"), retire("greeter@v1")],
    serve: ["counter@v1", "greeter@v1", "greeter@v2"],
    swap: true,
  },
  {
    name: "stored but not served",
    desired: ["greeter@v1"],
    stored: ["greeter@v1"],
    registered: ["greeter@v1"],
    actions: [act("serve", "greeter@v1")],
    serve: ["greeter@v1"],
    swap: true,
  },
  {
    name: "served but not registered",
    desired: ["greeter@v1"],
    stored: ["greeter@v1"],
    served: ["greeter@v1"],
    actions: [act("register", "greeter@v1")],
    serve: ["greeter@v1"],
    swap: false,
  },
  {
    name: "stored and served, never registered, then no longer desired: dropped without retire",
    desired: [],
    stored: ["greeter@v1"],
    served: ["greeter@v1"],
    actions: [],
    serve: [],
    swap: true,
  },
  {
    name: "registered version whose store dir is gone: orphan, not served",
    desired: ["greeter@v2"],
    stored: ["greeter@v2"],
    served: ["greeter@v1", "greeter@v2"],
    registered: ["greeter@v1", "greeter@v2"],
    actions: [orphan("greeter@v1")],
    serve: ["greeter@v2"],
    swap: true,
  },
  {
    name: "desired version whose store dir is gone is stored again",
    desired: ["greeter@v1"],
    served: ["greeter@v1"],
    registered: ["greeter@v1"],
    actions: [act("store", "greeter@v1")],
    serve: ["greeter@v1"],
    swap: false,
  },
  {
    name: "held service: registered version neither retired nor dropped, stays served",
    desired: ["counter@v1"],
    stored: ["greeter@v1", "counter@v1"],
    served: ["greeter@v1", "counter@v1"],
    registered: ["greeter@v1", "counter@v1"],
    held: ["greeter"],
    actions: [],
    serve: ["counter@v1", "greeter@v1"],
    swap: false,
  },
  {
    name: "held service with a registered version whose store dir is gone: not orphaned",
    desired: [],
    served: [],
    registered: ["greeter@v1"],
    held: ["greeter"],
    actions: [],
    serve: [],
    swap: false,
  },
  {
    name: "held only affects its own service",
    desired: [],
    stored: ["greeter@v1", "counter@v1"],
    served: ["greeter@v1", "counter@v1"],
    registered: ["greeter@v1", "counter@v1", "other@v1"],
    held: ["greeter"],
    actions: [retire("counter@v1"), orphan("other@v1")],
    serve: ["counter@v1", "greeter@v1"],
    swap: false,
  },
  // A suspension (gridiron suspend) freezes its services: held, plus what workerd serves stays.
  {
    name: "frozen service: its new version is neither stored, served nor registered; another service deploys",
    desired: ["greeter@v2", "counter@v2"],
    stored: ["greeter@v1", "counter@v1"],
    served: ["greeter@v1", "counter@v1"],
    registered: ["greeter@v1", "counter@v1"],
    frozen: ["greeter"],
    actions: [act("store", "counter@v2"), act("serve", "counter@v2"), act("register", "counter@v2"), retire("counter@v1")],
    serve: ["counter@v1", "counter@v2", "greeter@v1"],
    swap: true,
  },
  {
    name: "frozen service: a served version nothing registers stays served (held alone would drop it)",
    desired: ["greeter@v3"],
    stored: ["greeter@v1", "greeter@v2"],
    served: ["greeter@v1", "greeter@v2"],
    registered: ["greeter@v1"],
    frozen: ["greeter"],
    actions: [],
    serve: ["greeter@v1", "greeter@v2"],
    swap: false,
  },
  {
    name: "frozen service removed from the source: its registered version is neither drained nor removed",
    desired: [],
    stored: ["greeter@v1"],
    served: ["greeter@v1"],
    registered: ["greeter@v1"],
    frozen: ["greeter"],
    actions: [],
    serve: ["greeter@v1"],
    swap: false,
  },
  {
    name: "every service frozen (the whole mesh suspended): nothing to do whatever the source says",
    desired: ["greeter@v2", "counter@v2", "new@v1"],
    stored: ["greeter@v1", "counter@v1"],
    served: ["greeter@v1", "counter@v1"],
    registered: ["greeter@v1", "counter@v1", "gone@v1"],
    frozen: ["counter", "gone", "greeter", "new"],
    actions: [],
    serve: ["counter@v1", "greeter@v1"],
    swap: false,
  },
  {
    name: "retired version not currently served is served again so in-flight work can finish",
    desired: ["greeter@v2"],
    stored: ["greeter@v1", "greeter@v2"],
    served: ["greeter@v2"],
    registered: ["greeter@v1", "greeter@v2"],
    actions: [retire("greeter@v1")],
    serve: ["greeter@v1", "greeter@v2"],
    swap: true,
  },
  {
    name: "a served version that is in nothing else is dropped from the config",
    desired: ["greeter@v1"],
    stored: ["greeter@v1"],
    served: ["greeter@v1", "stale@v9"],
    registered: ["greeter@v1"],
    actions: [],
    serve: ["greeter@v1"],
    swap: true,
  },
];

describe("plan", () => {
  it.each(ROWS)("$name", (row) => {
    const result = plan(row.desired.map(desired), actualOf(row), { held: row.held ?? [], frozen: row.frozen ?? [] });
    expect(result.actions).toEqual(row.actions);
    expect(result.serve).toEqual(row.serve.map(ref));
    expect(result.swap).toBe(row.swap);
  });

  it.each(ROWS)("output does not depend on input order: $name", (row) => {
    const forward = plan(row.desired.map(desired), actualOf(row), { held: row.held ?? [], frozen: row.frozen ?? [] });
    const rev = <T>(xs: T[] | undefined): T[] => [...(xs ?? [])].reverse();
    const backward = plan(
      rev(row.desired).map(desired),
      actualOf({ stored: rev(row.stored), served: rev(row.served), registered: rev(row.registered) }),
      { held: rev(row.held), frozen: rev(row.frozen) },
    );
    expect(backward).toEqual(forward);
  });

  it("a registrar (serves nothing) drains a registered version missing from its store instead of calling it an orphan", () => {
    const row = { desired: ["greeter@v2"], stored: ["greeter@v2"], served: [], registered: ["greeter@v1", "greeter@v2"] };
    const asNode = plan(row.desired.map(desired), actualOf(row), {});
    expect(asNode.actions).toContainEqual(orphan("greeter@v1"));
    const asRegistrar = plan(row.desired.map(desired), actualOf(row), { serves: false });
    expect(asRegistrar.actions.some((a) => a.type === "orphan")).toBe(false);
    expect(asRegistrar.actions).toContainEqual(retire("greeter@v1"));
  });

  it("sorts serve by service/version and groups actions per version in sorted order", () => {
    const result = plan(["zeta@v1", "alpha@v2", "mid@v1", "alpha@v1"].map(desired), actualOf({}));
    const keys = result.serve.map(keyOf);
    expect(keys).toEqual([...keys].sort());
    expect(result.actions.map((a) => `${a.type}:${keyOf(a)}`)).toEqual(
      [...keys].flatMap((k) => [`store:${k}`, `serve:${k}`, `register:${k}`]),
    );
  });

  it.each(ROWS)("is idempotent once its effects are applied: $name", (row) => {
    const actual = actualOf(row);
    const first = plan(row.desired.map(desired), actual, { held: row.held ?? [], frozen: row.frozen ?? [] });
    const pick = (type: Action["type"]) => first.actions.filter((a) => a.type === type).map((a) => ({ service: a.service, version: a.version }));
    const union = <T extends VersionRef>(a: readonly T[], b: readonly T[]): T[] => {
      const seen = new Map(a.map((x) => [keyOf(x), x]));
      for (const x of b) if (!seen.has(keyOf(x))) seen.set(keyOf(x), x);
      return [...seen.values()];
    };
    const after: Actual = {
      stored: union(actual.stored, pick("store")),
      served: first.serve,
      registered: union(
        actual.registered,
        pick("register").map((r) => ({ ...r, deploymentId: `dp_new_${keyOf(r)}`, createdAt: "2026-11-02T00:00:00Z" })),
      ),
    };
    const second = plan(row.desired.map(desired), after, { held: row.held ?? [], frozen: row.frozen ?? [] });
    expect(second.actions.filter((a) => a.type === "store" || a.type === "serve" || a.type === "register")).toEqual([]);
    expect(second.swap).toBe(false);
    expect(second.serve).toEqual(first.serve);
  });

  it("a frozen service's ramp keeps its old version served: the rollout stays at its weight", () => {
    const ramp: RegisteredVersion = { ...registered("greeter@v2"), deploymentId: "dp_ramp", ramp: { from: ver("v1") } };
    const actual: Actual = { stored: ["greeter@v1", "greeter@v2"].map(ref), served: ["greeter@v1", "greeter@v2"].map(ref), registered: [{ ...registered("greeter@v1"), latestFor: [] }, ramp] };
    const p = plan([desired("greeter@v3")], actual, { frozen: ["greeter"] });
    expect(p.actions).toEqual([]);
    expect(p.serve).toEqual(["greeter@v1", "greeter@v2"].map(ref));
  });

  it("retention collects nothing of a frozen service", () => {
    const stored = ["v1", "v2", "v3", "v4"].map((l, i) => ({ ...ref(`greeter@${l}`), storedAt: `2026-11-0${i + 1}T00:00:00Z` }));
    const actual: Actual = { stored, served: [ref("greeter@v4")], registered: [registered("greeter@v4")] };
    expect(plan([desired("greeter@v4")], actual, { retain: 2 }).actions.map((a) => a.type)).toEqual(["gc", "gc"]);
    expect(plan([desired("greeter@v4")], actual, { retain: 2, frozen: ["greeter"] }).actions).toEqual([]);
  });

  it("does not mutate its inputs", () => {
    const d = ["greeter@v2"].map(desired);
    const actual = actualOf({ stored: ["greeter@v1"], served: ["greeter@v1"], registered: ["greeter@v1"] });
    const snapshot = structuredClone({ d, actual });
    plan(d, actual, { held: ["x"] });
    expect({ d, actual }).toEqual(snapshot);
  });
});
