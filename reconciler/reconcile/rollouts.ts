// Progressive rollouts, the effects: after a pass has applied its plan, each service whose latest
// deployment is a ramp is judged on Restate's data (restate/rollout-stats.ts, rules in rollout.ts)
// and advanced (the next step's ramp is registered, at 100% the new version itself; the previous
// deployment drains like any version) or aborted (a rollback pin of the old version, so the next
// pass makes it latest again; then the new version's retrying and paused invocations are moved
// onto it). Nothing is remembered that Restate's registry and the pins do not hold, except the
// last verdict shown in status.
import type { Logger } from "pino";
import type { RestateAdmin } from "../restate/admin.ts";
import { deploymentUri, rampUri } from "../restate/deployments.ts";
import type { Ramp } from "../restate/ramp.ts";
import { moveToLatest } from "../restate/in-flight.ts";
import { queryRamps, tally, ZERO_COUNTS, type RolloutCounts } from "../restate/rollout-stats.ts";
import type { PinStore } from "../store/pins.ts";
import type { VersionRef } from "../source/names.ts";
import type { ObservedDeployment, Observation } from "./observe.ts";
import { judge, latestOf, nextWeight, rampStart, rolloutSteps, type Companion } from "./rollout.ts";
import type { ReconcileResult, RolloutStatus } from "./status.ts";

export type { RolloutStatus };

/** How long a move waits for Restate to pause an invocation before it resumes it elsewhere. */
const MOVE_WAIT_MS = 5000;

/** While a rollout runs, its step is judged this often (the analysis interval). */
export const ROLLOUT_POLL_MS = 1000;

export type RolloutEvent = NonNullable<ReconcileResult["rollouts"]>[number];

export interface RolloutDeps {
  admin: RestateAdmin;
  pins: PinStore;
  /** Headers Restate adds to each request to a deployment (apply.ts's DEPLOYMENT_HEADERS). */
  headers?: Record<string, string>;
}

export class Rollouts {
  readonly #d: RolloutDeps;
  readonly #status = new Map<string, RolloutStatus>();
  /** What an operator asked for, applied by the next pass. */
  readonly #asked = new Map<string, "promote" | "abort">();

  constructor(d: RolloutDeps) {
    this.#d = d;
  }

  status(): ReadonlyMap<string, RolloutStatus> {
    return this.#status;
  }

  /** An operator's promote or abort, for the next pass; false when `service` has no ramp serving. */
  ask(service: string, what: "promote" | "abort", o: Observation | undefined): boolean {
    if (!o || !latestOf(o.deployments, service)?.ramp) return false;
    this.#asked.set(service, what);
    return true;
  }

  /**
   * A plain registration of a new version: the ramp to register instead, if its service has a
   * rollout policy and an older version serves in the same cell with the same handlers.
   */
  async rampFor(o: Observation, a: VersionRef, cell: number, cellUrl: string, log: Logger, companions: readonly Companion[] = []): Promise<Ramp | undefined> {
    const policy = o.desired.get(a.service)?.spec.rollout;
    const start = rampStart(policy, a.service, a.version, cell, o.deployments, companions);
    if (!start.ramp) {
      if (policy && !start.rollback) log.info({ service: a.service, version: a.version, why: start.why }, "no ramp: the version takes every new call at once");
      return undefined;
    }
    // The ramp answers discovery with the new version's manifest and sends some calls of every
    // handler to the old one: both must have the same handlers.
    const probe = await this.#d.admin.register({ uri: deploymentUri(cellUrl, a.service, a.version), dryRun: true, force: false });
    const differs = probe.services.flatMap((s) => {
      const now = o.catalog.find((c) => c.name === s.name)?.handlers;
      const next = (s.handlers ?? []).map((h) => h.name);
      if (!now) return [`service ${s.name} is new`];
      return [...next.filter((h) => !now.includes(h)).map((h) => `adds ${s.name}/${h}`), ...now.filter((h) => !next.includes(h)).map((h) => `removes ${s.name}/${h}`)];
    });
    if (differs.length > 0) {
      log.warn({ service: a.service, version: a.version, differs }, "no ramp: the new version's handlers differ from the serving one's, so it takes every new call at once");
      return undefined;
    }
    this.#status.set(a.service, this.#view(start.ramp, policy!, undefined, { old: { ...ZERO_COUNTS }, new: { ...ZERO_COUNTS } }, "hold", "ramp registered", new Date()));
    return start.ramp;
  }

  /**
   * After a pass has applied its plan: judges every ramp that serves, and moves the invocations of
   * aborted ones. `changed`: something was registered; `active`: a rollout runs (poll soon);
   * `again`: a pin was set, a pass must run now to act on it.
   */
  async tick(o: Observation, cellUrls: readonly string[], may: (service: string) => boolean, result: ReconcileResult, log: Logger, now = Date.now()): Promise<{ changed: boolean; active: boolean; again: boolean }> {
    const out = { changed: false, active: false, again: false };
    const live = new Map<string, { d: ObservedDeployment & { ramp: Ramp } }>();
    for (const service of o.desired.keys()) {
      const d = latestOf(o.deployments, service);
      if (d?.ramp && o.desired.get(service)!.spec.version === d.version) live.set(service, { d: d as ObservedDeployment & { ramp: Ramp } });
      else if (this.#status.get(service)?.decision === "hold" || this.#status.get(service)?.decision === "advance") this.#status.delete(service);
    }
    await this.#moveAborted(o, may, log);
    if (live.size === 0) return out;
    out.active = true;
    const invocations = await queryRamps(this.#d.admin, new Map([...live.values()].map(({ d }) => [d.deploymentId, d.ramp])));
    for (const [service, { d }] of live) {
      if (!may(service)) continue;
      const policy = o.desired.get(service)!.spec.rollout;
      const counts = tally(invocations, d.deploymentId, d.ramp);
      const asked = this.#asked.get(service);
      this.#asked.delete(service);
      const verdict = asked === "abort" ? { decision: "abort" as const, reason: "aborted by hand" }
        : asked === "promote" || !policy ? { decision: "advance" as const, reason: asked ? "promoted by hand" : "the rollout policy was removed" }
        : judge(policy, counts, now - Date.parse(d.createdAt));
      const at = new Date(now);
      this.#status.set(service, this.#view(d.ramp, policy, d, counts, verdict.decision, verdict.reason, at));
      if (verdict.decision === "hold") continue;
      const ev = { service, from: d.ramp.from, to: d.ramp.to, reason: verdict.reason };
      if (verdict.decision === "abort") {
        await this.#d.pins.set(service, { version: d.ramp.from, sourceVersion: o.sourceVersions.get(service) ?? null, breaking: false, at: at.toISOString() });
        log.warn({ ...ev, weight: d.ramp.weight, counts }, "rollout aborted: the old version takes every new call again");
        (result.rollouts ??= []).push({ ...ev, event: "abort", weight: 0 });
        this.#status.set(service, { ...this.#status.get(service)!, weight: 0, decision: "aborted" });
        out.again = true;
        continue;
      }
      const weight = asked === "promote" || !policy ? 100 : nextWeight(policy, d.ramp.weight);
      const plainTaken = o.deployments.some((x) => x.service === service && x.version === d.ramp.to && !x.ramp);
      const uri = weight >= 100
        ? deploymentUri(cellUrls[d.cell]!, service, d.ramp.to, plainTaken ? `r${now.toString(36)}` : undefined)
        : rampUri(cellUrls[d.cell]!, service, { ...d.ramp, weight });
      const spec = o.desired.get(service)!.spec;
      const res = await this.#d.admin.register({
        uri, force: false, breaking: spec.breaking, headers: this.#d.headers,
        metadata: { "gridiron.service": service, "gridiron.version": d.ramp.to, "gridiron.digest": spec.digest, "gridiron.revision": o.revision },
      });
      log.info({ ...ev, weight, deploymentId: res.id, counts }, weight >= 100 ? "rollout done: the new version takes every new call" : "rollout step: the new version's share grows");
      (result.rollouts ??= []).push({ ...ev, event: weight >= 100 ? "done" : "step", weight });
      this.#status.set(service, { ...this.#status.get(service)!, weight, decision: weight >= 100 ? "done" : "advance", deploymentId: res.id, since: at.toISOString() });
      out.changed = true;
    }
    return out;
  }

  /**
   * After an abort (a pin of the ramp's old version, now latest again): the retrying and paused
   * invocations the ramps sent to the new version are moved onto it, unless its gridiron.json says
   * "moveOnAbort": false. Derived from the pin and the ramps still registered, so a restart
   * between the abort and the move still moves them; a moved invocation leaves the ramp.
   */
  async #moveAborted(o: Observation, may: (service: string) => boolean, log: Logger): Promise<void> {
    for (const [service, pin] of this.#d.pins.entries()) {
      const latest = latestOf(o.deployments, service);
      if (!may(service) || !latest || latest.ramp || latest.version !== pin.version) continue;
      const ramps = o.deployments.filter((d) => d.service === service && d.ramp && d.ramp.from === pin.version && d.ramp.to === pin.sourceVersion);
      if (ramps.length === 0) continue;
      const spec = o.stored.find((s) => s.spec.service === service && s.spec.version === pin.sourceVersion)?.spec;
      if (spec?.rollout?.moveOnAbort === false) continue;
      const invs = await queryRamps(this.#d.admin, new Map(ramps.map((d) => [d.deploymentId, d.ramp!])));
      const stuck = invs.filter((i) => i.troubled && i.version === pin.sourceVersion);
      if (stuck.length === 0) continue;
      const { moved, failed } = await moveToLatest(this.#d.admin, stuck, MOVE_WAIT_MS);
      log.info({ service, from: pin.sourceVersion, to: pin.version, moved: moved.length, failed }, "rollout aborted: the new version's retrying and paused invocations moved onto the old version");
      const s = this.#status.get(service);
      if (s) this.#status.set(service, { ...s, reason: `${s.reason}; ${moved.length} invocation(s) moved onto ${pin.version}${failed.length ? `, ${failed.length} could not be` : ""}` });
    }
  }

  #view(ramp: Ramp, policy: Parameters<typeof rolloutSteps>[0] | undefined, d: ObservedDeployment | undefined, counts: { old: RolloutCounts; new: RolloutCounts }, decision: RolloutStatus["decision"], reason: string, at: Date): RolloutStatus {
    return {
      from: ramp.from, to: ramp.to, weight: ramp.weight, steps: policy ? rolloutSteps(policy) : [ramp.weight, 100],
      ...(d ? { deploymentId: d.deploymentId, since: d.createdAt } : {}),
      counts, decision, reason, at: at.toISOString(),
    };
  }
}
