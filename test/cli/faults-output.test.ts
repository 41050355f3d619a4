// `gridiron status` lines for the watchdog: a cell's health, a Degraded service, a poisoned invocation.
import { describe, expect, it } from "vitest";
import { cellHealthLine, degradedLine, poisonedLines } from "../../reconciler/cli/faults-output.ts";

describe("faults output", () => {
  it("a cell's health line", () => {
    expect(cellHealthLine({ rssBytes: 84 * 1024 * 1024, cpuSeconds: 3.21, limits: { hangMs: 5000, memoryMb: 1024 }, restarts: { hang: 2, memory: 0, crash: 1 },
      lastEvent: { kind: "hang", at: "2026-12-03T10:00:00.000Z", pid: 42, generation: 3, detail: "health route unanswered for 5000 ms" } }))
      .toBe("          rss 84 MB  cpu 3.2 s  limits 5000 ms / 1024 MB  restarts: hang 2, memory 0, crash 1  last: hang at 2026-12-03T10:00:00.000Z (pid 42: health route unanswered for 5000 ms)");
    expect(cellHealthLine({ limits: { hangMs: 5000, memoryMb: 1024 }, restarts: { hang: 0, memory: 0, crash: 0 } }))
      .toBe("          rss -  cpu -  limits 5000 ms / 1024 MB  restarts: hang 0, memory 0, crash 0");
  });

  it("a Degraded service says why; a healthy one prints nothing", () => {
    expect(degradedLine({ conditions: [{ type: "Degraded", status: true, reason: "CellHung", message: "cell 1 hung", since: "t" }] })).toBe("  degraded (CellHung) since t: cell 1 hung");
    expect(degradedLine({ conditions: [{ type: "Degraded", status: false, reason: "", message: "", since: "t" }] })).toBeUndefined();
  });

  it("a poisoned invocation with how it failed and what resolves it", () => {
    expect(poisonedLines([{ id: "inv_1", service: "poison", version: "v-1", restateService: "Poison", handler: "spin", target: "Poison/spin", how: "hang", kills: 3, pausedAt: "T",
      resolve: ["gridiron resume inv_1 --deployment latest", "gridiron kill inv_1"] }])).toEqual([
      "    poisoned  inv_1  Poison/spin  hung its cell (in flight at 3 faults), paused at T",
      "              resolve: deploy a fix, then gridiron resume inv_1 --deployment latest   or: gridiron kill inv_1",
    ]);
    expect(poisonedLines(undefined)).toEqual([]);
  });
});
