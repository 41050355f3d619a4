// The reconcile decision, as a pure function of what is wanted, what is there and what time it
// is. It does no I/O so that every case is a row in a table test (test/reconcile/plan.test.ts).
//
// Lifecycle of a version: desired → stored → served (workerd) → registered (Restate sends new
// calls to it). When it stops being desired its deployment is *draining*: it stays served while
// any invocation still needs it; once none does for `graceMs` it is *removed* (deregistered and
// dropped from workerd's config; its directory stays for rollback until retention GCs it).
// Drains are timestamps carried from pass to pass, never sleeps.

import { keyOf, type VersionRef } from "../source/names.ts";

export { keyOf, type VersionRef };

export interface DesiredVersion extends VersionRef {
  digest: string;
}

export interface StoredVersionRef extends VersionRef {
  /** ISO time the version was stored; retention keeps the newest. */
  storedAt?: string;
}

/** A deployment registered in Restate whose URI points into our workerd. */
export interface RegisteredVersion extends VersionRef {
  deploymentId: string;
  createdAt: string;
  /**
   * Restate services for which this deployment is the latest (where new calls go). Undefined
   * means "unknown", treated as latest, so callers without that data keep simple semantics.
   */
  latestFor?: readonly string[];
  /** Ids of invocations that still need this deployment (see drain.ts). */
  blocking?: readonly string[];
  /** A ramp (reconcile/rollout.ts) also sends invocations to `ramp.from`: served while it stays registered. */
  ramp?: { from: string };
}

export interface Actual {
  /** Versions complete in the store. */
  stored: readonly StoredVersionRef[];
  /** Versions in the workerd config that is serving now. */
  served: readonly VersionRef[];
  registered: readonly RegisteredVersion[];
}

/** Per retired deployment: when it was first seen retired, and since when nothing needs it. */
export interface DrainTimer {
  retiredAt: number;
  drainedAt?: number;
}

export interface PlanOptions {
  /**
   * Services whose bundle is present in the source but failed to read or validate (or every
   * service, when the source is unexpectedly empty): what is registered for them is kept exactly
   * as it is, because bad input must never take down what serves.
   */
  held?: readonly string[];
  /**
   * Services a suspension freezes (`gridiron suspend`): held, and more. A desired version of theirs
   * is ignored, every version of theirs workerd serves now stays served, and none of their stored
   * versions is collected: Gridiron changes nothing of theirs until they are resumed.
   */
  frozen?: readonly string[];
  now?: number;
  /** How long a deployment must stay drained before it is removed. Default 30 s. */
  graceMs?: number;
  /** After this long draining, report the version as stuck (nothing is killed). Default off. */
  deadlineMs?: number | null;
  /** Versions kept on disk per service (newest first, by storedAt); live ones are never removed. Default 5. */
  retain?: number;
  /** Timers from the previous pass, keyed by deployment id. */
  timers?: ReadonlyMap<string, DrainTimer>;
  /**
   * Whether this process serves what it registers (default true). A registrar of a cluster does
   * not: a registered version missing from its store is no orphan, it drains like any other.
   */
  serves?: boolean;
}

export const DEFAULT_GRACE_MS = 30_000;
export const DEFAULT_RETAIN = 5;
const MAX_NAMED_BLOCKERS = 5;

export type Action =
  /** Materialise the bundle into the version store. */
  | { type: "store"; service: string; version: string }
  /** Add to workerd's config (validated on a scratch workerd first). */
  | { type: "serve"; service: string; version: string }
  /** Register with Restate, which makes it the version new calls reach. */
  | { type: "register"; service: string; version: string }
  /** Desired and registered, but not where new calls go (a rollback): register it again under a fresh URI. */
  | { type: "promote"; service: string; version: string }
  /** Not desired any more: stays served while invocations need it, then for the grace period. */
  | { type: "drain"; service: string; version: string; deploymentId: string; blocking: number; invocations: string[]; stuck: boolean; removeAt?: number }
  /** Drained past the grace period: deregister from Restate (and leave workerd's config unless still needed). */
  | { type: "remove"; service: string; version: string; deploymentId: string }
  /** Registered in Restate but its bytes are gone from the store: it cannot be served. */
  | { type: "orphan"; service: string; version: string; deploymentId: string }
  /** Beyond retention and no longer live: delete its stored directory. */
  | { type: "gc"; service: string; version: string };

export interface Plan {
  actions: Action[];
  /** Every version the next workerd config must hold (sorted); equal to `served` when no swap is needed. */
  serve: VersionRef[];
  /** True when the workerd config must change. */
  swap: boolean;
  /** Timers to carry into the next pass (only deployments still draining). */
  timers: Map<string, DrainTimer>;
}

function byKey<T extends VersionRef>(a: T, b: T): number {
  const ka = keyOf(a);
  const kb = keyOf(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

const isLatest = (r: RegisteredVersion): boolean => r.latestFor === undefined || r.latestFor.length > 0;

export function plan(desired: readonly DesiredVersion[], actual: Actual, opts: PlanOptions = {}): Plan {
  const now = opts.now ?? 0;
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const retain = opts.retain ?? DEFAULT_RETAIN;
  const frozen = new Set(opts.frozen ?? []);
  const held = new Set([...(opts.held ?? []), ...frozen]);
  desired = desired.filter((d) => !frozen.has(d.service));
  const stored = new Set(actual.stored.map(keyOf));
  const served = new Set(actual.served.map(keyOf));
  const desiredKeys = new Set(desired.map(keyOf));
  const actions: Action[] = [];
  const serve = new Map<string, VersionRef>();
  const timers = new Map<string, DrainTimer>();

  const deploymentsOf = new Map<string, RegisteredVersion[]>();
  for (const r of [...actual.registered].sort((a, b) => byKey(a, b) || (a.createdAt < b.createdAt ? -1 : 1))) {
    deploymentsOf.set(keyOf(r), [...(deploymentsOf.get(keyOf(r)) ?? []), r]);
  }
  /** The deployment of a desired version that new calls reach; others of it are stale duplicates. */
  const keepers = new Set<string>();

  for (const d of [...desired].sort(byKey)) {
    const key = keyOf(d);
    const ref = { service: d.service, version: d.version };
    if (!stored.has(key)) actions.push({ type: "store", ...ref });
    if (!served.has(key)) actions.push({ type: "serve", ...ref });
    serve.set(key, ref);
    const deps = deploymentsOf.get(key) ?? [];
    const current = deps.filter(isLatest).pop();
    if (current) keepers.add(current.deploymentId);
    else actions.push({ type: deps.length === 0 ? "register" : "promote", ...ref });
  }

  for (const [key, deps] of deploymentsOf) {
    for (const r of deps) {
      if (keepers.has(r.deploymentId)) continue;
      const ref = { service: r.service, version: r.version };
      if (held.has(r.service)) {
        if (stored.has(key)) serve.set(key, ref);
        continue;
      }
      if (!stored.has(key) && opts.serves !== false) {
        actions.push({ type: "orphan", ...ref, deploymentId: r.deploymentId });
        continue;
      }
      const prev = opts.timers?.get(r.deploymentId);
      const retiredAt = prev?.retiredAt ?? now;
      const blocking = r.blocking ?? [];
      if (blocking.length > 0) {
        const stuck = opts.deadlineMs != null && now - retiredAt >= opts.deadlineMs;
        timers.set(r.deploymentId, { retiredAt });
        actions.push({ type: "drain", ...ref, deploymentId: r.deploymentId, blocking: blocking.length, invocations: blocking.slice(0, MAX_NAMED_BLOCKERS), stuck });
        serve.set(key, ref);
        continue;
      }
      const drainedAt = prev?.drainedAt ?? now;
      if (now - drainedAt >= graceMs) {
        actions.push({ type: "remove", ...ref, deploymentId: r.deploymentId });
        continue;
      }
      timers.set(r.deploymentId, { retiredAt, drainedAt });
      actions.push({ type: "drain", ...ref, deploymentId: r.deploymentId, blocking: 0, invocations: [], stuck: false, removeAt: drainedAt + graceMs });
      serve.set(key, ref);
    }
  }

  // A ramp deployment that stays registered routes some of its invocations to its old version.
  const gone = new Set(actions.flatMap((a) => (a.type === "remove" || a.type === "orphan" ? [a.deploymentId] : [])));
  for (const r of actual.registered) {
    const old = r.ramp && !gone.has(r.deploymentId) ? { service: r.service, version: r.ramp.from } : undefined;
    if (old && stored.has(keyOf(old))) serve.set(keyOf(old), old);
  }
  // A frozen service keeps serving what it serves, registered or not.
  for (const v of actual.served) if (frozen.has(v.service) && stored.has(keyOf(v))) serve.set(keyOf(v), { service: v.service, version: v.version });

  // Retention: newest `retain` stored versions per service stay; older ones go unless live.
  const storedByService = new Map<string, StoredVersionRef[]>();
  for (const s of actual.stored) storedByService.set(s.service, [...(storedByService.get(s.service) ?? []), s]);
  for (const [service, list] of [...storedByService].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (frozen.has(service)) continue;
    list.sort((a, b) => ((a.storedAt ?? "") < (b.storedAt ?? "") ? 1 : (a.storedAt ?? "") > (b.storedAt ?? "") ? -1 : byKey(a, b)));
    list.slice(retain).forEach((s) => {
      const key = keyOf(s);
      if (!serve.has(key) && !desiredKeys.has(key)) actions.push({ type: "gc", service: s.service, version: s.version });
    });
  }

  const next = [...serve.values()].sort(byKey);
  const swap = next.length !== served.size || next.some((v) => !served.has(keyOf(v)));
  return { actions, serve: next, swap, timers };
}
