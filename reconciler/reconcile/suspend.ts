// `gridiron suspend|resume [<service>]`, the effects: what is suspended is kept in a store
// (store/suspensions.ts: the data dir, or Restate in a cluster) and read again before every pass;
// what a suspension holds back is decided by the gate and the planner (suspendedServices in
// gate.ts, `frozen` in plan.ts). Checks of an operator's request live here, so the API and the
// loop say the same thing.
import type { Logger } from "pino";
import { GridironError } from "../core/errors.ts";
import { checkServiceName } from "../source/names.ts";
import type { VersionRef } from "../source/names.ts";
import { MESH, type Suspension, type SuspensionStore } from "../store/suspensions.ts";
import { suspendedServices, suspensionOf } from "./gate.ts";
import type { Observation } from "./observe.ts";

/** What `reason` and `by` may hold: a line for status, not a document. */
const MAX_TEXT = 500;

export interface SuspendRequest {
  /** A service, or undefined for the whole mesh. */
  service?: string;
  by?: string;
  reason?: string;
}

export type Suspended = { scope: string; suspension: Suspension; already: boolean };
export type Resumed = { scope: string; was: Suspension };

export class SuspendControl {
  readonly #store: SuspensionStore;
  readonly #log: Logger;
  /** Gridiron's own bundles (a cluster's lock): never frozen, never suspended by name. */
  readonly exempt: ReadonlySet<string>;

  constructor(store: SuspensionStore, exempt: ReadonlySet<string>, log: Logger) {
    this.#store = store;
    this.exempt = exempt;
    this.#log = log;
  }

  load(): Promise<void> {
    return this.#store.load();
  }

  /** Suspensions in force, by service (MESH for the whole mesh), as last read. */
  all(): Map<string, Suspension> {
    return new Map(this.#store.entries());
  }

  /** Reads the store again and names the services this pass must freeze. */
  async frozen(o: Observation, served: readonly VersionRef[]): Promise<Set<string>> {
    await this.#store.load();
    return suspendedServices(o, this.all(), served, this.exempt);
  }

  /**
   * Records a suspension; one already in force is kept as it is (its `since` stays true).
   * `known`: the services status lists; a name outside them is a typo, not a suspension.
   */
  async suspend(req: SuspendRequest, known: readonly string[], now = new Date()): Promise<Suspended> {
    const scope = req.service ?? MESH;
    if (req.service !== undefined) this.#check(req.service, known);
    const existing = this.all().get(scope);
    if (existing) return { scope, suspension: existing, already: true };
    const suspension: Suspension = {
      since: now.toISOString(),
      ...(req.by ? { by: req.by.slice(0, MAX_TEXT) } : {}),
      ...(req.reason ? { reason: req.reason.slice(0, MAX_TEXT) } : {}),
    };
    await this.#store.set(scope, suspension);
    this.#log.warn({ service: req.service ?? null, by: req.by, reason: req.reason },
      req.service ? "service suspended: Gridiron changes nothing of it until it is resumed" : "mesh suspended: passes observe and change nothing until it is resumed");
    return { scope, suspension, already: false };
  }

  /** Lifts a suspension; what it held back is applied by the pass that follows. */
  async resume(service: string | undefined): Promise<Resumed> {
    const scope = service ?? MESH;
    await this.#store.load();
    const all = this.all();
    const was = all.get(scope);
    if (!was) {
      const what = service === undefined ? "the mesh is not suspended" : `"${service}" is not suspended`;
      const mesh = service !== undefined && all.has(MESH) ? " (the whole mesh is: 'gridiron resume' without a service resumes it)" : "";
      const some = [...all.keys()].filter((k) => k !== MESH);
      const others = service === undefined && some.length > 0 ? ` (suspended services: ${some.join(", ")}; resume each by name)` : "";
      throw new GridironError("SUSPEND_INVALID", `${what}${mesh}${others}`, { service: service ?? null });
    }
    await this.#store.delete(scope);
    this.#log.info({ service: service ?? null, since: was.since }, service ? "service resumed" : "mesh resumed");
    return { scope, was };
  }

  /** Throws when an operator's change to `service` (a rollback, a rollout's promote or abort) must wait for a resume. */
  refuse(service: string, what: string): void {
    const s = suspensionOf(service, this.all(), this.exempt);
    if (!s) return;
    const by = s.scope === "mesh" ? "the whole mesh is suspended" : `"${service}" is suspended`;
    throw new GridironError("SERVICE_SUSPENDED", `${by} (since ${s.since}${s.reason ? `: ${s.reason}` : ""}): no ${what} until it is resumed`, { service, scope: s.scope });
  }

  #check(service: string, known: readonly string[]): void {
    const bad = checkServiceName(service);
    if (bad) throw new GridironError("SUSPEND_INVALID", bad, { service });
    if (this.exempt.has(service)) throw new GridironError("SUSPEND_INVALID", `"${service}" is Gridiron's own bundle (the cluster's lock and pins); it cannot be suspended`, { service });
    if (!known.includes(service)) {
      throw new GridironError("SUSPEND_INVALID", `no service "${service}" (known: ${known.filter((k) => !this.exempt.has(k)).join(", ") || "none yet"})`, { service });
    }
  }
}
