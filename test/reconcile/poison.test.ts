// Poison invocations: kills counted per invocation, paused at the threshold once, released when
// Restate no longer holds them paused; a version is Degraded while it has a poisoned invocation
// or was at a fault lately, with the reason and what to do.
import { describe, expect, it } from "vitest";
import { FaultRecord, KILLS_TO_PAUSE, RECENT_FAULT_MS, type BlamedInvocation, type FaultEvent } from "../../reconciler/reconcile/poison.ts";

const spin: BlamedInvocation = { id: "inv_spin", service: "poison", version: "v-1", restateService: "Poison", handler: "spin", target: "Poison/spin" };
const greet: BlamedInvocation = { id: "inv_greet", service: "greeter", version: "v-9", restateService: "Greeter", handler: "greet", target: "Greeter/greet" };

let generation = 0;
const fault = (over: Partial<FaultEvent> = {}): FaultEvent => ({
  cell: 1, kind: "hang", at: 1_000_000, pid: 100 + generation, generation: ++generation, detail: "health route unanswered for 2000 ms",
  holds: ["poison/v-1"], blamed: [spin], ...over,
});

describe("FaultRecord: counting", () => {
  it(`asks to pause an invocation at its ${KILLS_TO_PAUSE}rd kill, once`, () => {
    const r = new FaultRecord();
    const asked = Array.from({ length: KILLS_TO_PAUSE + 1 }, () => r.record(fault()).map((b) => b.id));
    expect(asked).toEqual([[], [], ["inv_spin"], ["inv_spin"]]);
    r.poisoned(spin, "hang", 2_000_000);
    expect(r.record(fault())).toEqual([]);
    expect(r.kills("inv_spin")).toBe(KILLS_TO_PAUSE + 2);
  });

  it("counts each invocation on its own, whatever the kind", () => {
    const r = new FaultRecord({ killsToPause: 2 });
    expect(r.record(fault({ kind: "memory", blamed: [spin, greet] }))).toEqual([]);
    expect(r.record(fault({ kind: "crash", blamed: [spin] })).map((b) => b.id)).toEqual(["inv_spin"]);
    expect(r.kills("inv_greet")).toBe(1);
  });

  it("counts one process's death once, even when a kill and a crash both report it", () => {
    const r = new FaultRecord({ killsToPause: 2 });
    const f = fault();
    r.record(f);
    expect(r.record({ ...f, kind: "crash" })).toEqual([]);
    expect(r.kills("inv_spin")).toBe(1);
    expect(r.faults()).toHaveLength(1);
  });

  it("forgets kills an hour old", () => {
    const r = new FaultRecord({ killsToPause: 2 });
    r.record(fault({ at: 0 }));
    expect(r.record(fault({ at: 61 * 60_000 }))).toEqual([]);
  });
});

describe("FaultRecord: poisoned and released", () => {
  it("keeps a poisoned invocation with how it failed and what resolves it, until Restate no longer holds it paused", () => {
    const r = new FaultRecord({ killsToPause: 1 });
    r.record(fault({ kind: "memory" }));
    const p = r.poisoned(spin, "memory", Date.parse("2026-12-03T10:00:00Z"));
    expect(p).toMatchObject({ id: "inv_spin", service: "poison", version: "v-1", target: "Poison/spin", how: "memory", kills: 1, pausedAt: "2026-12-03T10:00:00.000Z" });
    expect(p.resolve).toEqual(["gridiron resume inv_spin --deployment latest", "gridiron kill inv_spin"]);
    expect(r.poisonedOf("poison", "v-1").map((x) => x.id)).toEqual(["inv_spin"]);
    expect(r.poisonedOf("poison", "v-2")).toEqual([]);
    expect(r.release(new Set(["inv_spin"]))).toEqual([]);
    expect(r.release(new Set()).map((x) => x.id)).toEqual(["inv_spin"]);
    expect(r.poisonedIds()).toEqual([]);
  });
});

describe("FaultRecord: degraded", () => {
  const now = 1_000_000 + 60_000;

  it("a version with nothing against it is not degraded", () => {
    expect(new FaultRecord().degraded("poison", "v-1", now)).toBeUndefined();
  });

  it("a fault that blamed one of its invocations: the kind, the cell, the detail and how far from a pause", () => {
    const r = new FaultRecord();
    r.record(fault());
    const d = r.degraded("poison", "v-1", now)!;
    expect(d.reason).toBe("CellHung");
    expect(d.message).toContain("cell 1 hung at");
    expect(d.message).toContain("health route unanswered for 2000 ms");
    expect(d.message).toContain(`Poison/spin (inv_spin, 1 of ${KILLS_TO_PAUSE} kills before it is paused)`);
    // Greeter shared nothing with it.
    expect(r.degraded("greeter", "v-9", now)).toBeUndefined();
  });

  it("a fault that blamed nobody concerns every version its cell held", () => {
    const r = new FaultRecord();
    r.record(fault({ kind: "memory", blamed: [], holds: ["poison/v-1", "greeter/v-9"] }));
    expect(r.degraded("greeter", "v-9", now)?.reason).toBe("CellOutOfMemory");
    expect(r.degraded("poison", "v-1", now)?.message).toContain("with nothing of it known in flight");
    expect(r.degraded("poison", "v-2", now)).toBeUndefined();
  });

  it(`a fault older than ${RECENT_FAULT_MS / 60_000} min no longer counts`, () => {
    const r = new FaultRecord();
    r.record(fault({ kind: "crash" }));
    expect(r.degraded("poison", "v-1", 1_000_000 + RECENT_FAULT_MS)?.reason).toBe("CellCrashed");
    expect(r.degraded("poison", "v-1", 1_000_000 + RECENT_FAULT_MS + 1)).toBeUndefined();
  });

  it("a poisoned invocation keeps its version degraded however old, and says how to end it", () => {
    const r = new FaultRecord({ killsToPause: 1 });
    r.record(fault());
    r.poisoned(spin, "hang", 1_000_000);
    const d = r.degraded("poison", "v-1", 1_000_000 + 10 * RECENT_FAULT_MS)!;
    expect(d.reason).toBe("PoisonedInvocations");
    expect(d.message).toBe("inv_spin (Poison/spin) was in flight at 1 faults of its cell, the last a hang, and is paused: deploy a fix, then 'gridiron resume inv_spin --deployment latest', or end it with 'gridiron kill inv_spin'");
  });
});
