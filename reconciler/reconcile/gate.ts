// The gate: what a pass must leave alone, decided from one frozen observation. Pure, like the
// planner, so every rule is a row in test/reconcile/gate.test.ts, and `gridiron plan` and a real
// pass run the very same checks.
//
// A service is held (what Restate has registered for it stays exactly as it is) when its bundle
// in the source is broken, when its new version was refused (failed to load, breaking change
// without opt-in, a Restate service another bundle owns), or when the source is unexpectedly empty:
// bad input never takes down what serves. A suspended service (`gridiron suspend`) is held too, and
// more: it is not even probed, and the planner keeps whatever of it workerd serves (plan.ts frozen).
import { GridironError } from "../core/errors.ts";
import { keyOf, type VersionRef } from "../source/names.ts";
import { MESH, type Suspension } from "../store/suspensions.ts";
import type { ValidationResult } from "../workerd/validate.ts";
import type { Candidate, Observation } from "./observe.ts";
import type { ReconcileResult } from "./status.ts";

/** What a scratch workerd (and Restate's dry run) said of a version new to workerd. */
export type Probe = ValidationResult | GridironError;

export interface GateInput {
  observation: Observation;
  /** Versions refused by an earlier pass, by key: not tried again until the input changes. */
  failed: ReadonlyMap<string, GridironError>;
  /** Restate services each version validated earlier provides, by key. */
  provides: ReadonlyMap<string, readonly string[]>;
  /** This pass's probes of the versions `toProbe` named, by key. */
  probes: ReadonlyMap<string, Probe>;
  /** Services a suspension freezes this pass (`suspendedServices`). */
  suspended?: ReadonlySet<string>;
}

export interface Refusal extends VersionRef {
  error: GridironError;
  /** Remember the refusal for this exact version (it cannot pass until its bytes change). */
  remember: boolean;
}

export interface Gate {
  /** Services whose registered versions must be left exactly as they are this pass. */
  held: ReadonlySet<string>;
  /** Versions refused this pass. */
  refused: Refusal[];
  /** Versions that passed their probe, with the Restate services they provide. */
  accepted: (VersionRef & { restateServices: string[] })[];
  /** The source holds nothing and does not say "remove everything": nothing is removed. */
  emptySource: boolean;
  /** Services a suspension freezes (also in `held`): the planner keeps all they serve. */
  suspended: ReadonlySet<string>;
}

/**
 * The services a suspension freezes this pass: each one suspended by name, and with the whole
 * mesh suspended every service the pass knows of (in the source, registered, stored or served).
 * `exempt` are Gridiron's own bundles (a cluster's lock): a suspension never freezes them, so the
 * registrar can still act on a resume.
 */
export function suspendedServices(
  o: Observation,
  suspensions: ReadonlyMap<string, Suspension>,
  served: readonly VersionRef[] = [],
  exempt: ReadonlySet<string> = new Set(),
): Set<string> {
  const out = new Set([...suspensions.keys()].filter((k) => k !== MESH));
  if (suspensions.has(MESH)) {
    for (const s of [...o.desired.keys(), ...o.errors.keys()]) out.add(s);
    for (const v of [...o.deployments, ...o.stored.map((x) => x.spec), ...served]) out.add(v.service);
  }
  for (const s of exempt) out.delete(s);
  return out;
}

/** The suspension that holds `service`: its own, else the whole mesh's (none for an exempt one). */
export function suspensionOf(service: string, suspensions: ReadonlyMap<string, Suspension>, exempt: ReadonlySet<string> = new Set()): (Suspension & { scope: "service" | "mesh" }) | undefined {
  if (exempt.has(service)) return undefined;
  const own = suspensions.get(service);
  if (own) return { ...own, scope: "service" };
  const mesh = suspensions.get(MESH);
  return mesh ? { ...mesh, scope: "mesh" } : undefined;
}

/**
 * Services held before anything new is probed: broken bundles, refused versions, an empty source,
 * suspended services.
 */
export function heldBySource(o: Observation, failed: ReadonlyMap<string, unknown>, suspended: ReadonlySet<string> = new Set()): Set<string> {
  const held = new Set([...o.errors.keys(), ...suspended]);
  for (const c of o.desired.values()) if (failed.has(keyOf(c.spec))) held.add(c.spec.service);
  if (refusesEmpty(o)) for (const d of o.deployments) held.add(d.service);
  return held;
}

export const refusesEmpty = (o: Observation): boolean => o.empty && !o.allowEmpty;

/** The desired versions a pass must prove on a scratch workerd first: new to workerd, not held. */
export function toProbe(o: Observation, failed: ReadonlyMap<string, unknown>, served: readonly VersionRef[], suspended?: ReadonlySet<string>): Candidate[] {
  const held = heldBySource(o, failed, suspended);
  const servedKeys = new Set(served.map(keyOf));
  return [...o.desired.values()]
    .filter((c) => !held.has(c.spec.service) && !servedKeys.has(keyOf(c.spec)))
    .sort((a, b) => (keyOf(a.spec) < keyOf(b.spec) ? -1 : 1));
}

export function gate(input: GateInput): Gate {
  const o = input.observation;
  const suspended = input.suspended ?? new Set<string>();
  const held = heldBySource(o, input.failed, suspended);
  const refused: Refusal[] = [];
  const accepted: Gate["accepted"] = [];
  for (const [key, probe] of [...input.probes].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const c = [...o.desired.values()].find((x) => keyOf(x.spec) === key);
    if (!c || held.has(c.spec.service)) continue;
    const ref = { service: c.spec.service, version: c.spec.version };
    if (probe instanceof GridironError) {
      refused.push({ ...ref, error: probe, remember: true });
      continue;
    }
    const removed = removedHandlers(o, c.spec.service, probe.handlers);
    if (removed.length > 0 && !c.spec.breaking) {
      refused.push({
        ...ref,
        remember: true,
        error: new GridironError("BREAKING_CHANGE", `bundle "${ref.service}" (version ${ref.version}) removes ${removed.join(", ")} that the serving version provides; calls to them would fail. If that is intended, set "breaking": true in gridiron.json`,
          { ...ref, removed }),
      });
      continue;
    }
    accepted.push({ ...ref, restateServices: probe.restateServices });
  }
  for (const r of refused) held.add(r.service);
  const provides = new Map(input.provides);
  for (const a of accepted) provides.set(keyOf(a), a.restateServices);
  for (const r of conflicts(o, held, provides)) {
    refused.push(r);
    held.add(r.service);
  }
  return { held, refused, accepted: accepted.filter((a) => !held.has(a.service)), emptySource: refusesEmpty(o), suspended };
}

/**
 * Restate accepts a deployment that drops a handler (or a whole service) the current one has, and
 * calls to it then fail; Gridiron treats that as a breaking change needing the manifest's opt-in.
 */
export function removedHandlers(o: Observation, service: string, next: ReadonlyMap<string, readonly string[]>): string[] {
  const current = o.deployments.filter((d) => d.service === service && (d.latestFor?.length ?? 0) > 0);
  const removed: string[] = [];
  for (const d of current) {
    for (const rs of d.latestFor ?? []) {
      const handlers = next.get(rs);
      if (!handlers) {
        removed.push(`service ${rs}`);
        continue;
      }
      for (const h of o.catalog.find((c) => c.name === rs)?.handlers ?? []) if (!handlers.includes(h)) removed.push(`handler ${rs}/${h}`);
    }
  }
  return removed;
}

/**
 * Two bundles must not both provide one Restate service. What serves claims first: a Restate
 * service whose latest deployment belongs to a bundle still present in the source (even a
 * broken, held one) stays with it; a newcomer that also provides it is refused, naming both.
 * Conflicts are not remembered: they clear as soon as either bundle changes.
 */
export function conflicts(o: Observation, held: ReadonlySet<string>, provides: ReadonlyMap<string, readonly string[]>): Refusal[] {
  const present = new Set([...o.desired.keys(), ...o.errors.keys()]);
  const owners = new Map<string, string>();
  for (const d of o.deployments) {
    if (!present.has(d.service)) continue;
    for (const rs of d.latestFor ?? []) owners.set(rs, d.service);
  }
  const out: Refusal[] = [];
  const provided = (v: VersionRef) => provides.get(keyOf(v)) ?? o.deployments.find((d) => keyOf(d) === keyOf(v))?.restateServices ?? [];
  const candidates = [...o.desired.values()].filter((c) => !held.has(c.spec.service)).sort((a, b) => (a.spec.service < b.spec.service ? -1 : 1));
  for (const { spec } of candidates) {
    for (const rs of provided(spec)) {
      const owner = owners.get(rs);
      if (owner !== undefined && owner !== spec.service) {
        out.push({
          service: spec.service,
          version: spec.version,
          remember: false,
          error: new GridironError("SERVICE_CONFLICT", `bundle "${spec.service}" provides Restate service "${rs}", which bundle "${owner}" already provides; one Restate service belongs to one bundle: remove it from one of them`,
            { service: spec.service, restateService: rs, owner }),
        });
        break;
      }
      owners.set(rs, spec.service);
    }
  }
  return out;
}

/** How a pass ended, from what it did and what went wrong. */
export function outcomeOf(r: Pick<ReconcileResult, "actions" | "errors">): ReconcileResult["outcome"] {
  if (r.errors.length > 0) return r.actions.length > 0 ? "partial" : "error";
  return r.actions.length > 0 ? "ok" : "noop";
}

/**
 * Whether the next pass should come early with backoff: something went wrong that may pass by
 * itself (waiting or failed, not stalled on input), and nothing was deployed meanwhile.
 */
export const retries = (r: Pick<ReconcileResult, "errors" | "deployed">): boolean =>
  r.errors.some((e) => e.kind !== "stalled") && r.deployed.length === 0;

/** Why a process whose first passes ended like `r` is still not ready; undefined when it is. */
export function notReadyAfter(r: Pick<ReconcileResult, "errors">): string | undefined {
  // A refused bundle (stalled) waits on a human; what the pass could serve, it serves.
  const e = r.errors.find((x) => x.kind !== "stalled");
  return e ? `no pass has finished yet: ${e.code}: ${e.message}` : undefined;
}
