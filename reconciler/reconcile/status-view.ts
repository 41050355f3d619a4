// Builds the status report from the last pass's view of the world. Pure: the transition time of
// each condition comes from a memory that only passes write (recordConditions), so a condition's
// `since` is the time of the pass that saw it flip, not the time someone asked.
import type { Pin } from "../store/pins.ts";
import { keyOf, type Action, type Plan, type VersionRef } from "./plan.ts";
import type { Observation } from "./observe.ts";
import { GridironError } from "../core/errors.ts";
import { suspensionOf, type Gate, type Probe } from "./gate.ts";
import { MESH, type Suspension } from "../store/suspensions.ts";
import type { FaultRecord } from "./poison.ts";
import type { Condition, ConditionType, PlanReport, ReconcileResult, RolloutStatus, ServiceStatus, Status, VersionStatus } from "./status.ts";

export interface StatusInput {
  last?: { o: Observation; plan: Plan };
  /** When the conditions were observed: the last pass's start. */
  now: string;
  served: readonly VersionRef[];
  failedVersions: ReadonlyMap<string, GridironError>;
  serviceErrors: ReadonlyMap<string, { code: string; message: string; hint?: string; since: string }>;
  pins: ReadonlyMap<string, Pin>;
  conditionMemory: ConditionMemory;
  source: Status["source"];
  workerd: Status["workerd"];
  restate: Status["restate"];
  history: readonly ReconcileResult[];
  /** What the cell watchdogs saw: poisoned invocations and recent faults per version. */
  faults?: Pick<FaultRecord, "poisonedOf" | "degraded">;
  /** Each service's progressive rollout, as its last judgement saw it. */
  rollouts?: ReadonlyMap<string, RolloutStatus>;
  /** Suspensions in force (store/suspensions.ts), and the services none can freeze (Gridiron's own). */
  suspensions?: ReadonlyMap<string, Suspension>;
  exempt?: ReadonlySet<string>;
}

/** Per service and condition type: the last status a pass recorded, and since when. */
export type ConditionMemory = Map<string, Map<string, { status: boolean; since: string }>>;

type DrainAction = Extract<Action, { type: "drain" }>;

export function buildStatus(input: StatusInput): Status {
  const g = input.last?.o;
  const drains = new Map<string, DrainAction>();
  for (const a of input.last?.plan.actions ?? []) if (a.type === "drain") drains.set(a.deploymentId, a);
  const served = new Set(input.served.map(keyOf));
  const names = new Set<string>([
    ...(g?.deployments.map((d) => d.service) ?? []),
    ...(g?.desired.keys() ?? []),
    ...input.serviceErrors.keys(),
    ...[...input.failedVersions.keys()].map((k) => k.split("/")[0]!),
  ]);

  const services: ServiceStatus[] = [];
  for (const service of [...names].sort()) {
    const deps = (g?.deployments ?? []).filter((d) => d.service === service).sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    const latest = deps.find((d) => (d.latestFor?.length ?? 0) > 0);
    const serving = latest?.version;
    // While a ramp is latest, its old version takes the rest of the new calls through it, though
    // its own deployment drains like any replaced version's.
    const ramp = latest?.ramp && served.has(`${service}/${latest.ramp.from}`) ? latest.ramp : undefined;
    const desired = g?.desired.get(service)?.spec.version;
    const rows = new Map<string, VersionStatus>();
    for (const d of deps) {
      const drain = drains.get(d.deploymentId);
      // A service removed from the source keeps its deployment latest in Restate until it is
      // deregistered, but it is on its way out: draining, not serving.
      const leaving = desired === undefined && drain !== undefined;
      const state: VersionStatus["state"] = !served.has(keyOf(d)) ? "unservable" : d.version === serving && !leaving ? "serving" : drain?.stuck ? "stuck" : "draining";
      if (rows.get(d.version)?.state === "serving") continue;
      const row: VersionStatus = {
        version: d.version,
        state,
        digest: d.metadata["gridiron.digest"],
        revision: d.metadata["gridiron.revision"],
        deploymentId: d.deploymentId,
        restateServices: d.restateServices,
        registeredAt: d.createdAt,
      };
      if (drain && state !== "serving") {
        row.blocking = drain.blocking;
        row.invocations = drain.invocations;
        if (drain.removeAt !== undefined) row.removeAt = new Date(drain.removeAt).toISOString();
        row.reason = drain.blocking > 0
          ? `${drain.blocking} invocation(s) still need it${drain.invocations.length ? `: ${drain.invocations.join(", ")}` : ""}${drain.stuck ? " (past the drain deadline)" : ""}`
          : `drained; removed after the grace period${row.removeAt ? ` (at ${row.removeAt})` : ""}`;
      }
      if (state === "unservable") row.reason = "registered in Restate but not in workerd's config (missing from the version store)";
      // No drain planned: its service is held (refused input) or suspended, and so is this version.
      if (state === "draining" && !drain) row.reason = suspensionOf(service, input.suspensions ?? new Map(), input.exempt) ? "left as it is while the service is suspended" : "left as it is while the service's new input is refused";
      const poisoned = input.faults?.poisonedOf(service, d.version) ?? [];
      if (poisoned.length > 0) row.poisoned = poisoned;
      rows.set(d.version, row);
    }
    for (const s of g?.stored ?? []) {
      if (s.spec.service !== service || rows.has(s.spec.version)) continue;
      rows.set(s.spec.version, { version: s.spec.version, state: "stored", digest: s.spec.digest, storedAt: s.storedAt, reason: "kept on disk for rollback" });
    }
    for (const [key, e] of input.failedVersions) {
      const [svc, version] = key.split("/") as [string, string];
      if (svc === service) rows.set(version, { version, state: "failed", reason: e.message });
    }
    if (ramp) {
      const old = rows.get(ramp.from);
      const share = `the ramp sends it ${100 - ramp.weight}% of new calls`;
      // Its own deployment's drain (if it still runs) is said after the share it serves.
      const own = old && old.state !== "stored" && old.reason ? `; its own deployment: ${old.reason}` : "";
      // The ramp is registered only when both versions have the same handlers (rollouts.ts).
      rows.set(ramp.from, { restateServices: latest!.restateServices, ...(old ?? { version: ramp.from }), state: "serving", reason: `${share}${own}` });
      const now = rows.get(ramp.to);
      if (now?.state === "serving") rows.set(ramp.to, { ...now, reason: `the ramp sends it ${ramp.weight}% of new calls` });
    }
    const error = input.serviceErrors.get(service);
    const drainingRows = [...rows.values()].filter((r) => r.state === "draining" || r.state === "stuck");
    // The serving version took its cell down lately or has a poisoned invocation: not Ready.
    const degraded = serving ? input.faults?.degraded(service, serving, Date.parse(input.now)) : undefined;
    const suspended = suspensionOf(service, input.suspensions ?? new Map(), input.exempt);
    const conditions = conditionsFor(input.conditionMemory.get(service), input.now, [
      ["Ready", !!serving && serving === desired && !error && !degraded, serving === desired ? "Serving" : "NotServingDesired",
        serving ? `new calls reach ${serving}` : "no version registered"],
      // A suspended service's new version waits for a resume: nothing is in progress.
      ["Progressing", !!desired && desired !== serving && !error && !suspended, "NewVersion", desired && desired !== serving ? `${desired} is being rolled out` : ""],
      ["Draining", drainingRows.length > 0,
        drainingRows.some((r) => r.state === "stuck") ? "Stuck" : drainingRows.some((r) => (r.blocking ?? 0) > 0) ? "InvocationsInFlight" : "GracePeriod",
        drainingRows.map((r) => `${r.version}: ${r.reason}`).join("; ")],
      ["Failed", !!error, error?.code ?? "", error?.message ?? ""],
      ["Degraded", !!degraded, degraded?.reason ?? "", degraded?.message ?? ""],
    ]);
    const pin = input.pins.get(service);
    services.push({
      service,
      serving,
      desired,
      ...(pin ? { pinned: pin.version } : {}),
      conditions,
      versions: [...rows.values()],
      ...(error ? { error } : {}),
      ...(input.rollouts?.get(service) ? { rollout: input.rollouts.get(service)! } : {}),
      ...(suspended ? { suspended } : {}),
    });
  }

  return {
    source: input.source,
    workerd: input.workerd,
    restate: input.restate,
    services,
    lastReconcile: input.history[0],
    history: [...input.history],
    ...(input.suspensions?.get(MESH) ? { suspended: { ...input.suspensions.get(MESH)!, scope: "mesh" as const } } : {}),
  };
}

function conditionsFor(
  memory: ReadonlyMap<string, { status: boolean; since: string }> | undefined,
  now: string,
  specs: [ConditionType, boolean, string, string][],
): Condition[] {
  return specs.map(([type, status, reason, message]) => {
    const prev = memory?.get(type);
    const since = prev && prev.status === status ? prev.since : now;
    return { type, status, reason: status ? reason : "", message: status ? message : "", since };
  });
}

/** Remembers each service's conditions as a pass saw them (the next status keeps their `since`). */
export function recordConditions(memory: ConditionMemory, status: Status): void {
  for (const s of status.services) memory.set(s.service, new Map(s.conditions.map((c) => [c.type, { status: c.status, since: c.since }])));
}

/** `gridiron plan`'s report: the plan a pass would run, and how the gate judged each new version. */
export function buildPlanReport(o: Observation, probes: ReadonlyMap<string, Probe>, g: Gate, p: Plan): PlanReport {
  const checks: PlanReport["checks"] = [];
  for (const [key, probe] of probes) {
    const [service, version] = key.split("/") as [string, string];
    const refusal = g.refused.find((r) => keyOf(r) === key);
    if (refusal) checks.push({ service, version, ok: false, message: refusal.error.message });
    else if (probe instanceof GridironError) checks.push({ service, version, ok: false, message: probe.message });
    else checks.push({ service, version, ok: true, restateServices: probe.restateServices });
  }
  for (const r of g.refused) if (!probes.has(keyOf(r))) checks.push({ service: r.service, version: r.version, ok: false, message: r.error.message });
  const { timers: _timers, ...plan } = p;
  return { revision: o.revision, plan, checks, invalid: [...o.errors].map(([service, e]) => ({ service, code: e.code, message: e.message })) };
}

/** A pass that only polled (a drain's end, a rollout's step) and found nothing to do. */
const quietPoll = (r: ReconcileResult) => r.outcome === "noop" && (r.trigger === "drain" || r.trigger === "rollout") && !r.rollouts?.length;

/**
 * Adds a pass to the history, newest first, at most `max` kept. A quiet poll replaces the quiet
 * poll of the same kind just before it, so a rollout polled every second or a long drain does
 * not push every pass that did something out of the history.
 */
export function recordPass(history: ReconcileResult[], result: ReconcileResult, max: number): void {
  const last = history[0];
  if (last && quietPoll(result) && quietPoll(last) && last.trigger === result.trigger) history[0] = result;
  else history.unshift(result);
  history.length = Math.min(history.length, max);
}
