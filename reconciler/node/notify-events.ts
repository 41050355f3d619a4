// Which notifications a pass sends (--notify-url), derived from what the pass reports anyway: its
// ReconcileResult (versions made latest, rollout steps and aborts) and the status after it,
// compared with what the previous pass left (a service's error, a Degraded condition, invocations
// paused as poison). Nothing in the reconcile code knows notifications exist. Pure, so each rule is
// a row in test/node/notify-events.test.ts.
import { isStoreError } from "../core/errors.ts";
import type { ReconcileResult, Status } from "../reconcile/status.ts";

/** One notification's own fields; notify.ts adds its id, time and node. */
export type NotifyEvent =
  /** A version became the one new calls reach; weight < 100: it did so through a rollout's first ramp step. */
  | { type: "deploy"; service: string; version: string; from?: string; weight: number; revision?: string }
  /** A pinned version became latest again: `gridiron rollback` (manual) or a rollout's abort (automatic). */
  | { type: "rollback"; service: string; version: string; from?: string; cause: "manual" | "rollout-abort"; revision?: string }
  | { type: "rollout.step" | "rollout.done" | "rollout.abort"; service: string; from: string; to: string; weight: number; reason: string }
  /** Failed: a bundle or version was refused (code: the error code). Degraded: the serving version took its cell down (code: the condition's reason). */
  | { type: "version.failed"; service: string; version?: string; condition: "Failed" | "Degraded"; code: string; message: string }
  | { type: "invocation.paused"; service: string; version: string; invocation: string; target: string; how: string; kills: number; resolve: string[] };

export type NotifyEventType = NotifyEvent["type"];

export const NOTIFY_EVENT_TYPES: readonly NotifyEventType[] = ["deploy", "rollback", "rollout.step", "rollout.done", "rollout.abort", "version.failed", "invocation.paused"];

/** What the last pass left behind, to tell news from what was already sent. */
export interface NotifySeen {
  /** service → the version new calls reached */
  serving: ReadonlyMap<string, string>;
  /** service → its error's code and message */
  errors: ReadonlyMap<string, string>;
  /** service → the serving version that was Degraded */
  degraded: ReadonlyMap<string, string>;
  /** ids of the invocations paused as poison */
  paused: ReadonlySet<string>;
  /** service → the old version a rollout's abort pinned, until it is latest again */
  aborted: ReadonlyMap<string, string>;
}

/**
 * Which events this process sends. Registry events (deploy, rollback, rollout, a refused version)
 * are the same on every process of a cluster that watches the source: only the acting registrar
 * (or a single machine, role all) sends them. Node events (Degraded, poison) happen where a cell
 * runs: a registrar runs none. A version this process could not store (its own data dir) is sent
 * by whichever process it happened on, whatever its role.
 */
export interface NotifyScope {
  registry: boolean;
  local: boolean;
}

export function scopeOf(status: Pick<Status, "cluster">): NotifyScope {
  const role = status.cluster?.role ?? "all";
  return {
    registry: role === "all" || (role === "registrar" && status.cluster?.lock?.held !== false),
    local: role !== "registrar",
  };
}

const ROLLOUT_TYPES = { step: "rollout.step", done: "rollout.done", abort: "rollout.abort" } as const;

/**
 * The events of the pass that produced `result` and `status`, and what to remember for the next.
 * `seen` is updated whatever the scope, so a standby registrar that takes over does not resend
 * what the cluster already heard.
 */
export function deriveEvents(seen: NotifySeen | undefined, result: Pick<ReconcileResult, "deployed" | "rollouts" | "revision">, status: Pick<Status, "services">, scope: NotifyScope): { events: NotifyEvent[]; seen: NotifySeen } {
  const registry: NotifyEvent[] = [];
  const local: NotifyEvent[] = [];
  const own: NotifyEvent[] = [];
  const byService = new Map(status.services.map((s) => [s.service, s]));
  const aborted = new Map(seen?.aborted);
  const revision = result.revision !== undefined ? { revision: result.revision } : {};

  for (const d of result.deployed) {
    const svc = byService.get(d.service);
    const was = seen?.serving.get(d.service);
    const from = was !== undefined && was !== d.version ? { from: was } : {};
    if (svc?.pinned === d.version) {
      registry.push({ type: "rollback", service: d.service, version: d.version, ...from, cause: aborted.get(d.service) === d.version ? "rollout-abort" : "manual", ...revision });
      aborted.delete(d.service);
      continue;
    }
    // A version with a rollout policy is registered behind a ramp: its first step's weight.
    const ramp = svc?.rollout?.to === d.version && (svc.rollout.decision === "hold" || svc.rollout.decision === "advance") ? svc.rollout.weight : 100;
    registry.push({ type: "deploy", service: d.service, version: d.version, ...from, weight: ramp, ...revision });
  }
  // After the deploys: a pass registers first and judges its rollouts last.
  for (const r of result.rollouts ?? []) {
    registry.push({ type: ROLLOUT_TYPES[r.event], service: r.service, from: r.from, to: r.to, weight: r.weight, reason: r.reason });
    if (r.event === "abort") aborted.set(r.service, r.from);
  }

  const errors = new Map<string, string>();
  const degraded = new Map<string, string>();
  const paused = new Set<string>();
  const serving = new Map<string, string>();
  for (const svc of status.services) {
    if (svc.serving !== undefined) serving.set(svc.service, svc.serving);
    if (svc.error) {
      const key = `${svc.error.code}\0${svc.error.message}`;
      errors.set(svc.service, key);
      if (seen?.errors.get(svc.service) !== key) {
        const version = svc.versions.find((v) => v.state === "failed" && v.reason === svc.error!.message)?.version;
        (isStoreError(svc.error) ? own : registry).push({ type: "version.failed", service: svc.service, ...(version !== undefined ? { version } : {}), condition: "Failed", code: svc.error.code, message: svc.error.message });
      }
    }
    const cond = svc.conditions.find((c) => c.type === "Degraded");
    if (cond?.status && svc.serving !== undefined) {
      degraded.set(svc.service, svc.serving);
      if (seen?.degraded.get(svc.service) !== svc.serving) {
        local.push({ type: "version.failed", service: svc.service, version: svc.serving, condition: "Degraded", code: cond.reason, message: cond.message });
      }
    }
    for (const v of svc.versions) {
      for (const p of v.poisoned ?? []) {
        paused.add(p.id);
        if (!seen?.paused.has(p.id)) {
          local.push({ type: "invocation.paused", service: p.service, version: p.version, invocation: p.id, target: p.target, how: p.how, kills: p.kills, resolve: p.resolve });
        }
      }
    }
  }
  return {
    events: [...(scope.registry ? registry : []), ...(scope.local ? local : []), ...own],
    seen: { serving, errors, degraded, paused, aborted },
  };
}
