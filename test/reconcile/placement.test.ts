// Which cell serves each version: one per service while cells last, a version stays where it is
// registered, a service moves only with a new version and only off a shared cell onto an empty one.
import { describe, expect, it } from "vitest";
import { placeVersions, type PlacedDeployment } from "../../reconciler/reconcile/placement.ts";
import type { VersionRef } from "../../reconciler/source/names.ts";

const v = (key: string): VersionRef => {
  const [service, version] = key.split("/") as [string, string];
  return { service, version };
};
const dep = (key: string, cell: number, latest = true, createdAt = "2026-01-01"): PlacedDeployment => ({ ...v(key), cell, createdAt, latestFor: latest ? ["X"] : [] });

describe("placeVersions", () => {
  const cases: { name: string; serve: string[]; registered?: PlacedDeployment[]; served?: [string, number][]; cells: number; want: Record<string, number> }[] = [
    { name: "one cell: everything in it", serve: ["a/1", "b/1", "c/1"], cells: 1, want: { "a/1": 0, "b/1": 0, "c/1": 0 } },
    { name: "a cell per service while cells last", serve: ["a/1", "b/1", "c/1"], cells: 4, want: { "a/1": 0, "b/1": 1, "c/1": 2 } },
    { name: "more services than cells: the least-loaded cell, lowest first", serve: ["a/1", "b/1", "c/1", "d/1", "e/1"], cells: 2, want: { "a/1": 0, "b/1": 1, "c/1": 0, "d/1": 1, "e/1": 0 } },
    { name: "a registered version stays in its cell", serve: ["a/1", "b/1"], registered: [dep("a/1", 3), dep("b/1", 3)], cells: 4, want: { "a/1": 3, "b/1": 3 } },
    { name: "a served, not yet registered version keeps its cell", serve: ["a/2"], served: [["a/2", 2]], cells: 4, want: { "a/2": 2 } },
    { name: "a new version joins its service's cell when the service has it alone", serve: ["a/1", "a/2"], registered: [dep("a/1", 2)], cells: 4, want: { "a/1": 2, "a/2": 2 } },
    {
      name: "a new version leaves a shared cell for an empty one",
      serve: ["a/1", "b/1", "b/2"],
      registered: [dep("a/1", 0), dep("b/1", 0)],
      cells: 3,
      want: { "a/1": 0, "b/1": 0, "b/2": 1 },
    },
    {
      name: "a new version stays on a shared cell when none is empty",
      serve: ["a/1", "b/1", "b/2"],
      registered: [dep("a/1", 0), dep("b/1", 0)],
      cells: 1,
      want: { "a/1": 0, "b/1": 0, "b/2": 0 },
    },
    {
      name: "a rollback re-registers where the version was registered",
      serve: ["a/1"],
      registered: [dep("a/1", 1, false, "2026-01-01"), dep("a/2", 2, true, "2026-01-02")],
      cells: 4,
      want: { "a/1": 1 },
    },
    { name: "a deployment in a cell beyond the count is placed afresh", serve: ["a/1"], registered: [dep("a/1", 7)], cells: 2, want: { "a/1": 0 } },
  ];
  it.each(cases)("$name", ({ serve, registered, served, cells, want }) => {
    const got = placeVersions(serve.map(v), registered ?? [], new Map(served ?? []), cells);
    expect(Object.fromEntries(got)).toEqual(want);
  });
});

describe("placeVersions with lanes (cells 0-1, lanes 2-3)", () => {
  const lanes = (noLane: string[] = []) => ({ count: 2, laneable: (s: string) => !noLane.includes(s) });
  const cases: { name: string; serve: string[]; registered?: PlacedDeployment[]; served?: [string, number][]; noLane?: string[]; want: Record<string, number> }[] = [
    { name: "new versions take the free lanes first, then the cells", serve: ["a/1", "b/1", "c/1"], want: { "a/1": 2, "b/1": 3, "c/1": 0 } },
    { name: "a service that may take no lane (a rollout policy) goes to a cell", serve: ["a/1", "b/1"], noLane: ["a"], want: { "a/1": 0, "b/1": 2 } },
    { name: "a registered version stays in its lane", serve: ["a/1"], registered: [dep("a/1", 3)], want: { "a/1": 3 } },
    { name: "a served, not yet registered version keeps its lane", serve: ["a/1", "b/1"], served: [["a/1", 3]], want: { "a/1": 3, "b/1": 2 } },
    {
      name: "a new version of a service on a lane takes another lane; the old one stays until it is gone",
      serve: ["a/1", "a/2"],
      registered: [dep("a/1", 2)],
      want: { "a/1": 2, "a/2": 3 },
    },
    {
      name: "with every lane taken, a new version goes to a cell, not to its service's lane",
      serve: ["a/1", "b/1", "a/2"],
      registered: [dep("a/1", 2), dep("b/1", 3)],
      want: { "a/1": 2, "b/1": 3, "a/2": 0 },
    },
    { name: "a lane freed by a removed version is taken again", serve: ["a/2"], registered: [dep("a/1", 2, false)], want: { "a/2": 2 } },
    { name: "a deployment beyond the lanes is placed afresh", serve: ["a/1"], registered: [dep("a/1", 4)], want: { "a/1": 2 } },
  ];
  it.each(cases)("$name", ({ serve, registered, served, noLane, want }) => {
    const got = placeVersions(serve.map(v), registered ?? [], new Map(served ?? []), 2, "spread", lanes(noLane));
    expect(Object.fromEntries(got)).toEqual(want);
  });

  it("a cluster (hash) never hands out a lane", () => {
    const got = placeVersions([v("a/1")], [], new Map(), 2, "hash", lanes());
    expect(got.get("a/1")).toBeLessThan(2);
  });
});
