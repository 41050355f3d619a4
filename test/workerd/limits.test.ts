// A cell's limits: each version's declaration (or the node's default), capped by the node's
// maximum; the cell gets the largest of what its versions need.
import { describe, expect, it } from "vitest";
import type { RunLimits } from "../../reconciler/source/manifest.ts";
import { effectiveLimits, versionLimits, type NodeLimits } from "../../reconciler/workerd/limits.ts";

const node: NodeLimits = { defaults: { hangMs: 5000, memoryMb: 1024 }, max: { hangMs: 30_000, memoryMb: 2048 } };

describe("versionLimits", () => {
  it.each<[string, RunLimits | undefined, { hangMs: number; memoryMb: number }]>([
    ["nothing declared: the defaults", undefined, { hangMs: 5000, memoryMb: 1024 }],
    ["an empty declaration: the defaults", {}, { hangMs: 5000, memoryMb: 1024 }],
    ["a lower hang limit is kept", { hangMs: 1000 }, { hangMs: 1000, memoryMb: 1024 }],
    ["a higher one too, up to the maximum", { hangMs: 20_000, memoryMb: 1536 }, { hangMs: 20_000, memoryMb: 1536 }],
    ["beyond the maximum: the maximum", { hangMs: 120_000, memoryMb: 8192 }, { hangMs: 30_000, memoryMb: 2048 }],
  ])("%s", (_label, declared, want) => {
    expect(versionLimits(declared, node)).toEqual(want);
  });
});

describe("effectiveLimits", () => {
  it.each<[string, (RunLimits | undefined)[], { hangMs: number; memoryMb: number }]>([
    ["an empty cell: the defaults", [], { hangMs: 5000, memoryMb: 1024 }],
    ["one version that declares less: its limits", [{ hangMs: 2000, memoryMb: 256 }], { hangMs: 2000, memoryMb: 256 }],
    ["beside one that declares nothing: the defaults win (largest)", [{ hangMs: 2000, memoryMb: 256 }, undefined], { hangMs: 5000, memoryMb: 1024 }],
    ["each limit is the largest on its own", [{ hangMs: 10_000, memoryMb: 256 }, { hangMs: 2000, memoryMb: 1800 }], { hangMs: 10_000, memoryMb: 1800 }],
    ["no version gets past the maximum", [{ hangMs: 300_000 }, { memoryMb: 65_536 }], { hangMs: 30_000, memoryMb: 2048 }],
  ])("%s", (_label, declared, want) => {
    expect(effectiveLimits(declared, node)).toEqual(want);
  });
});
