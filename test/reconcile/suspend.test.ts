// What an operator's suspend and resume may name, and what a suspension refuses: each check once,
// on an in-memory store.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { GridironError } from "../../reconciler/core/errors.ts";
import { SuspendControl } from "../../reconciler/reconcile/suspend.ts";
import { MESH, type Suspension, type SuspensionStore } from "../../reconciler/store/suspensions.ts";

class MemoryStore implements SuspensionStore {
  all = new Map<string, Suspension>();
  async load() {}
  entries(): [string, Suspension][] {
    return [...this.all];
  }
  async set(scope: string, s: Suspension) {
    this.all.set(scope, s);
  }
  async delete(scope: string) {
    this.all.delete(scope);
  }
}

const KNOWN = ["counter", "greeter", "gridiron-system"];
const control = () => {
  const store = new MemoryStore();
  return { store, c: new SuspendControl(store, new Set(["gridiron-system"]), pino({ level: "silent" })) };
};
const code = async (p: Promise<unknown> | (() => void)) => {
  try {
    if (typeof p === "function") p();
    else await p;
  } catch (err) {
    return (err as GridironError).code;
  }
  return "none";
};

describe("SuspendControl", () => {
  it("records a suspension once; asking again keeps the first (its since stays true)", async () => {
    const { store, c } = control();
    const first = await c.suspend({ service: "greeter", by: "ana@box", reason: "incident" }, KNOWN, new Date("2026-11-01T00:00:00Z"));
    expect(first).toEqual({ scope: "greeter", already: false, suspension: { since: "2026-11-01T00:00:00.000Z", by: "ana@box", reason: "incident" } });
    const again = await c.suspend({ service: "greeter", reason: "other" }, KNOWN, new Date("2026-11-02T00:00:00Z"));
    expect(again).toEqual({ ...first, already: true });
    expect(await c.suspend({}, KNOWN)).toMatchObject({ scope: MESH, already: false });
    expect([...store.all.keys()]).toEqual(["greeter", MESH]);
  });

  const refused: { name: string; service: string }[] = [
    { name: "an invalid name", service: "Greeter!" },
    { name: "an empty name (it does not mean the whole mesh)", service: "" },
    { name: "a service status does not list (a typo)", service: "greter" },
    { name: "Gridiron's own bundle", service: "gridiron-system" },
  ];
  it.each(refused)("refuses to suspend $name", async ({ service }) => {
    const { store, c } = control();
    expect(await code(c.suspend({ service }, KNOWN))).toBe("SUSPEND_INVALID");
    expect(store.all.size).toBe(0);
  });

  it("resumes what is suspended, and says what is when asked for something that is not", async () => {
    const { store, c } = control();
    await c.suspend({ service: "greeter" }, KNOWN);
    await expect(c.resume("counter")).rejects.toThrow('"counter" is not suspended');
    await expect(c.resume(undefined)).rejects.toThrow("suspended services: greeter");
    expect((await c.resume("greeter")).scope).toBe("greeter");
    await c.suspend({}, KNOWN);
    await expect(c.resume("greeter")).rejects.toThrow("the whole mesh is");
    expect((await c.resume(undefined)).scope).toBe(MESH);
    expect(store.all.size).toBe(0);
  });

  it("refuses a rollback or a rollout step of a suspended service, by name or by the mesh's suspension", async () => {
    const { c } = control();
    expect(await code(() => c.refuse("greeter", "rollback"))).toBe("none");
    await c.suspend({ service: "greeter", reason: "incident" }, KNOWN);
    expect(() => c.refuse("greeter", "rollback")).toThrow(/"greeter" is suspended \(since .*: incident\): no rollback until it is resumed/);
    expect(await code(() => c.refuse("counter", "rollout promote"))).toBe("none");
    await c.suspend({}, KNOWN);
    expect(await code(() => c.refuse("counter", "rollout promote"))).toBe("SERVICE_SUSPENDED");
    expect(await code(() => c.refuse("gridiron-system", "rollback"))).toBe("none");
  });
});
