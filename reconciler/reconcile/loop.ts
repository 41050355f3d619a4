// The reconcile loop: passes are serialized and coalesced, and each runs one pipeline on one
// frozen observation:
//   observe (source, Restate, store; new versions probed on a scratch workerd)
//   → gate (pure: what to leave alone) → plan (pure) → apply (effects, in order)
//   → plan once more when the invocation query answers (drains and removals need it).
// `gridiron plan` runs the same observe → gate → plan and stops there, so it cannot disagree with
// a pass. Operator commands (operator-commands.ts) queue here too; drains are followed up by timer.
import { EventEmitter } from "node:events";
import PQueue from "p-queue";
import type { Logger } from "pino";
import { GridironError, asGridironError, isSourceError } from "../core/errors.ts";
import { ourDeployments } from "../restate/deployments.ts";
import type { BundleCache } from "../source/bundle.ts";
import { ALLOW_EMPTY_FILE } from "../source/desired.ts";
import { keyOf, type VersionRef } from "../source/names.ts";
import { Pins, type PinStore } from "../store/pins.ts";
import { DEPLOYMENT_HEADERS, applyPlan } from "./apply.ts";
import { placeVersions } from "./placement.ts";
import { gate, notReadyAfter, outcomeOf, retries, type Gate, type Probe } from "./gate.ts";
import { observe, refreshed, withBlocking, type Candidate, type Observation, type ObserveDeps } from "./observe.ts";
import { plan as planActions, type DrainTimer, type Plan } from "./plan.ts";
import { countOnce, forgotten, rejectionsOf } from "./rejections.ts";
import { buildPlanReport, buildStatus, recordConditions, recordPass, type ConditionMemory } from "./status-view.ts";
import { DEFAULT_LIFECYCLE, type LifecycleOptions, type ReconcilerDeps } from "./deps.ts";
import type { PlanReport, ReconcileResult, Status } from "./status.ts";
import { RegistrarTurn } from "./registrar.ts";
import { probeNew, validateDeps } from "./probe.ts";
import { ServiceErrors } from "./service-errors.ts";
import { ROLLOUT_POLL_MS, Rollouts } from "./rollouts.ts";
import { latestOf, rampCompanions } from "./rollout.ts";
import { OperatorCommands, type Moved } from "./operator-commands.ts";
import { SuspendControl, type Resumed, type Suspended, type SuspendRequest } from "./suspend.ts";
import { Suspensions } from "../store/suspensions.ts";

export type { LifecycleOptions, ReconcilerDeps };

const HISTORY = 10;

export interface ReconcilerEvents {
  /** After every pass, whatever its outcome (metrics, status page). */
  pass: [ReconcileResult];
}

export class Reconciler extends EventEmitter<ReconcilerEvents> {
  readonly #d: ReconcilerDeps;
  readonly #log: Logger;
  readonly #life: LifecycleOptions;
  readonly #queue = new PQueue({ concurrency: 1 });
  readonly #pins: PinStore;
  readonly #bundles: BundleCache = new Map();
  #queued: Promise<ReconcileResult> | undefined;
  #queuedToken: object | undefined;
  #timers = new Map<string, DrainTimer>();
  #followUp: NodeJS.Timeout | undefined;
  #closed = false;
  /** Consecutive passes that failed for a transient reason (drives the retry backoff). */
  #failures = 0;
  #last: { o: Observation; plan: Plan; at: string } | undefined;
  /** Versions refused by the gate: not probed again on every resync (cleared on manual reconcile). */
  readonly #failedVersions = new Map<string, GridironError>();
  readonly #serviceErrors: ServiceErrors;
  /** Keys of the rejections the last pass reported (rejections.ts: each is counted once). */
  #rejected = new Set<string>();
  /** Restate services each validated version provides. */
  readonly #provides = new Map<string, string[]>();
  readonly #history: ReconcileResult[] = [];
  #sourceError: string | undefined;
  #passes = 0;
  /** Why the process is not ready yet (undefined once it is): see `notReady`. */
  #notReady: string | undefined = "the first reconcile pass has not finished";
  readonly #registrar: RegistrarTurn;
  /** Progressive rollouts: ramps judged after each pass, promoted or aborted. */
  readonly #rollouts: Rollouts;
  /** Per service and condition type: its last status and since when; written by passes only. */
  readonly #conditions: ConditionMemory = new Map();
  /** `gridiron suspend|resume`: what a pass must freeze (reconcile/suspend.ts). */
  readonly #suspend: SuspendControl;
  readonly #commands: OperatorCommands;

  constructor(deps: ReconcilerDeps) {
    super();
    this.#registrar = new RegistrarTurn(deps);
    this.#d = deps;
    this.#log = deps.logger.child({ component: "reconciler" });
    this.#serviceErrors = new ServiceErrors(this.#log);
    this.#life = { ...DEFAULT_LIFECYCLE, ...deps.lifecycle };
    this.#pins = deps.pins ?? new Pins(deps.dataDir);
    this.#suspend = new SuspendControl(deps.suspensions ?? new Suspensions(deps.dataDir), new Set((deps.system ?? []).map((b) => b.spec.service)), this.#log);
    this.#rollouts = new Rollouts({ admin: deps.admin, pins: this.#pins, headers: deps.restateKeepAlive ? undefined : DEPLOYMENT_HEADERS });
    this.#commands = new OperatorCommands({
      deps, log: this.#log, queue: this.#queue, pins: this.#pins, bundles: this.#bundles, failedVersions: this.#failedVersions,
      registrar: this.#registrar, rollouts: this.#rollouts, suspend: this.#suspend,
      last: () => this.#last?.o, status: () => this.status(), pass: (t) => this.#pass(t), reconcile: (t) => this.reconcile(t),
    });
  }

  /**
   * Starts the first workerd generation with every version Restate still has registered (and the
   * store still holds), so registered versions answer before the first pass changes anything.
   */
  async start(): Promise<void> {
    await this.#d.store.sweepTemp();
    await this.#pins.load();
    await this.#suspend.load();
    const cells = this.#d.cells;
    const deployments = ourDeployments(cells.urls, await this.#d.admin.listDeployments());
    const stored = new Set((await this.#d.store.list()).map((s) => keyOf(s.spec)));
    const serve = new Map<string, VersionRef>();
    for (const d of deployments) if (stored.has(keyOf(d))) serve.set(keyOf(d), { service: d.service, version: d.version });
    // A ramp (a rollout's step) also sends invocations to its old version.
    for (const d of deployments) if (d.ramp && stored.has(`${d.service}/${d.ramp.from}`)) serve.set(`${d.service}/${d.ramp.from}`, { service: d.service, version: d.ramp.from });
    const refs = [...serve.values()];
    // Every one is registered, so its URI fixes its cell or lane: no lane is handed out here.
    const lanes = { count: cells.lanes, laneable: () => false };
    await cells.start(refs, placeVersions(refs, deployments, new Map(), cells.firstLane, "spread", lanes), this.#log, rampCompanions(deployments, [], cells.firstLane));
  }

  /**
   * Ready once a pass has finished that could read the desired state and Restate's registry: from
   * then on the cells serve what is registered, so a Service may send calls here. It stays ready
   * through later failures, which never take away what serves. Undefined when ready, else why not.
   */
  get notReady(): string | undefined {
    return this.#notReady;
  }

  /** Queues a pass; triggers that arrive while one is already queued (not yet started) share it. */
  reconcile(trigger: string): Promise<ReconcileResult> {
    if (trigger === "api") this.#failedVersions.clear();
    if (this.#queued) return this.#queued;
    // p-queue may start the task synchronously inside add(), so the "still queued" mark is a
    // token the task clears only if it is still its own.
    const token = {};
    this.#queuedToken = token;
    const queued = this.#queue.add(async () => {
      if (this.#queuedToken === token) {
        this.#queuedToken = undefined;
        this.#queued = undefined;
      }
      return this.#pass(trigger);
    }) as Promise<ReconcileResult>;
    if (this.#queuedToken === token) this.#queued = queued;
    return queued;
  }

  /** What a pass would do now, without doing it: the same observation, probes, gate and plan. */
  async plan(): Promise<PlanReport> {
    return this.#queue.add(async () => {
      const { observation, blocking } = await observe(this.#observeDeps(), this.#log, { queryInvocations: true });
      const o = blocking ? withBlocking(observation, await blocking) : observation;
      const suspended = await this.#suspend.frozen(o, this.#d.cells.served);
      const probes = await this.#probe(o, suspended);
      const g = this.#gate(o, probes, suspended);
      const p = this.#plan(o, g.held, Date.now(), suspended);
      return buildPlanReport(o, probes, g, p);
    }) as Promise<PlanReport>;
  }

  #observeDeps(): ObserveDeps {
    const d = this.#d;
    return { source: d.source, admin: d.admin, store: d.store, pins: this.#pins, cellUrls: d.cells.urls, limits: d.limits, bundles: this.#bundles, system: d.system };
  }

  /** A registrar serves nothing itself: a version it proved once is not proved again while it waits for the nodes. */
  #probe(o: Observation, suspended: ReadonlySet<string>): Promise<Map<string, Probe>> {
    const proven = this.#d.cells.local ? [] : [...this.#provides.keys()].map((k) => ({ service: k.slice(0, k.indexOf("/")), version: k.slice(k.indexOf("/") + 1) }));
    return probeNew(o, this.#failedVersions, [...this.#d.cells.served, ...proven], validateDeps(this.#d), suspended);
  }

  #gate(o: Observation, probes: ReadonlyMap<string, Probe>, suspended: ReadonlySet<string>): Gate {
    return gate({ observation: o, failed: this.#failedVersions, provides: this.#provides, probes, suspended });
  }

  #plan(o: Observation, held: ReadonlySet<string>, now: number, frozen: ReadonlySet<string>): Plan {
    const desired = [...o.desired.values()].map((c: Candidate) => c.spec).filter((s) => !held.has(s.service));
    return planActions(
      desired,
      { stored: o.stored.map((s) => ({ service: s.spec.service, version: s.spec.version, storedAt: s.storedAt })), served: this.#d.cells.served, registered: o.deployments },
      { held: [...held], frozen: [...frozen], now, graceMs: this.#life.graceMs, deadlineMs: this.#life.deadlineMs, retain: this.#life.retain, timers: this.#timers, serves: this.#d.cells.local },
    );
  }

  async #pass(trigger: string): Promise<ReconcileResult> {
    const id = ++this.#passes;
    const started = performance.now();
    const result: ReconcileResult = { id, trigger, startedAt: new Date().toISOString(), durationMs: 0, outcome: "ok", actions: [], deployed: [], errors: [] };
    let log = this.#log.child({ pass: id });
    log.debug({ trigger }, "reconcile pass started");
    let draining = false;
    let pollMs: number | undefined;
    // What the early follow-up pass is for, as its trigger says in history and logs.
    let polling = "drain";
    try {
      // A registrar acts on what every Ready node serves, and only while it holds the lock.
      const { mayRegister, standby } = await this.#registrar.before();
      const { observation: o, blocking } = await observe(this.#observeDeps(), log, { queryInvocations: true });
      result.revision = o.revision;
      // Every later line of this pass says which desired state it works from.
      log = log.child({ revision: o.revision });
      this.#sourceError = undefined;
      for (const [service, err] of o.errors) this.#serviceErrors.note(service, err);

      // Probe first (from the bytes in memory), so a refused version is never stored and can
      // never be picked by a rollback.
      const suspended = await this.#suspend.frozen(o, this.#d.cells.served);
      if (suspended.size > 0) result.suspended = [...suspended].sort();
      const probes = await this.#probe(o, suspended);
      const g = this.#gate(o, probes, suspended);
      if (g.emptySource) {
        this.#sourceError = `${this.#d.source.location} holds no bundles: nothing is removed. Add a bundle, or create ${ALLOW_EMPTY_FILE} there to remove everything.`;
        log.warn({ location: this.#d.source.location }, "source is empty; refusing to prune");
      }
      for (const a of g.accepted) {
        const probe = probes.get(keyOf(a)) as Exclude<Probe, GridironError>;
        this.#provides.set(keyOf(a), a.restateServices);
        log.info({ service: a.service, version: a.version, restateServices: a.restateServices, ms: probe.ms }, "version validated");
      }
      for (const r of g.refused) {
        if (r.remember) {
          log.error({ service: r.service, version: r.version, err: r.error.toJSON() }, "version rejected; the serving version is untouched");
          this.#failedVersions.set(keyOf(r), r.error);
        }
        this.#serviceErrors.note(r.service, r.error);
      }
      // Every rejection present is this pass's error, counted once (rejections.ts); a refusal the
      // source has moved past leaves status now.
      for (const key of forgotten(this.#failedVersions, o)) this.#failedVersions.delete(key);
      const counted = countOnce(this.#rejected, rejectionsOf(o, g, this.#failedVersions));
      this.#rejected = counted.seen;
      for (const r of counted.rejections) result.errors.push({ ...r.error.toJSON(), ...(r.repeated ? { repeated: true } : {}) });

      const applied = await applyPlan(this.#d, {
        observation: o,
        held: g.held,
        blocking,
        plan: (x, held) => this.#plan(x, held, Date.now(), suspended),
        result,
        log,
        onUnstored: (service, e) => this.#serviceErrors.note(service, e),
        onDeployed: () => this.#failedVersions.clear(),
        rampFor: (x, a, cell, url, l, c) => this.#rollouts.rampFor(x, a, cell, url, l, c),
        mayRegister,
      });
      this.#timers = applied.plan.timers;
      // Waiting for the nodes (or for the lock) is polled like a drain, only sooner.
      pollMs = this.#registrar.after(applied.waiting, log);
      draining = applied.draining || applied.waiting.length > 0 || standby;

      // A service whose desired version now serves has no error left to report.
      this.#serviceErrors.settle(o.desired.keys(), applied.held, (service) => o.errors.has(service) || o.desired.has(service));
      // Status reflects what this pass registered or removed; the source was read at its start
      // (fetching it again, for git a second fetch, would only race with the next pass).
      const changed = result.deployed.length + applied.removed > 0;
      let last = changed ? await refreshed({ ...this.#d, cellUrls: this.#d.cells.urls }, applied.observation).catch(() => applied.observation) : applied.observation;
      // Rollouts are judged on what is registered now; a node never registers.
      // A suspended service's rollout freezes at its weight: neither judged nor polled for.
      const rolled = (this.#d.role ?? "all") === "node" ? undefined : await this.#rollouts.tick(last, this.#d.cells.urls, (s) => mayRegister(s) && !suspended.has(s), result, log);
      if (rolled?.changed) last = await refreshed({ ...this.#d, cellUrls: this.#d.cells.urls }, last).catch(() => last);
      const judged = [...last.desired.keys()].some((s) => !suspended.has(s) && latestOf(last.deployments, s)?.ramp);
      if (rolled?.active && judged) [draining, pollMs, polling] = [true, Math.min(pollMs ?? this.#life.drainPollMs, ROLLOUT_POLL_MS), "rollout"];
      // An abort pinned the old version: the next pass makes it latest again, now.
      if (rolled?.again) void this.reconcile("rollout-abort");
      this.#last = { o: last, plan: applied.plan, at: result.startedAt };
    } catch (err) {
      const e = asGridironError(err);
      result.errors.push(e.toJSON());
      if (isSourceError(e)) this.#sourceError = e.message;
      log.error({ err: e.toJSON() }, "reconcile pass failed; nothing that serves was removed");
    } finally {
      result.durationMs = Math.round(performance.now() - started);
      result.outcome = outcomeOf(result);
      recordPass(this.#history, result, HISTORY);
      // A rejection the last pass reported already is not news: every resync would repeat it.
      const news = result.errors.some((e) => !e.repeated);
      const level = news ? "warn" : result.actions.length > 0 ? "info" : "debug";
      log[level]({ trigger, outcome: result.outcome, ms: result.durationMs, deployed: result.deployed, actions: result.actions.map((a) => `${a.type} ${a.service}/${a.version}`) }, "reconcile pass done");
      const retry = retries(result);
      this.#failures = retry ? this.#failures + 1 : 0;
      if (this.#notReady !== undefined) this.#notReady = notReadyAfter(result);
      // Conditions flip when a pass observes them, so their `since` is this pass's time.
      recordConditions(this.#conditions, this.#statusAt(result.startedAt));
      this.#scheduleFollowUp(draining, retry, pollMs, polling);
      this.emit("pass", result);
    }
    return result;
  }

  /**
   * The next pass comes early when something is draining (to notice the drain end and the grace
   * expiry) or when this one failed for a reason that may pass by itself (backoff 0.5 s → 30 s).
   */
  #scheduleFollowUp(draining: boolean, retry: boolean, pollMs = this.#life.drainPollMs, polling = "drain"): void {
    clearTimeout(this.#followUp);
    this.#followUp = undefined;
    if ((!draining && !retry) || this.#closed) return;
    const now = Date.now();
    const nextRemoval = Math.min(...[...this.#timers.values()].map((t) => (t.drainedAt ?? Infinity) + this.#life.graceMs));
    const drainDelay = draining ? Math.min(pollMs, nextRemoval - now) : Infinity;
    const retryDelay = retry ? Math.min(30_000, 500 * 2 ** Math.min(this.#failures - 1, 6)) : Infinity;
    const delay = Math.max(50, Math.min(drainDelay, retryDelay));
    this.#followUp = setTimeout(() => void this.reconcile(retry && retryDelay <= drainDelay ? "retry" : polling), delay);
    this.#followUp.unref();
  }

  // What an operator asks for (operator-commands.ts): each runs inside the queue, between passes.
  /** Pins `version` (default: the newest stored version other than the one serving) and runs a pass. */
  rollback(service: string, version?: string, opts?: { breaking?: boolean }): Promise<ReconcileResult> {
    return this.#commands.rollback(service, version, opts);
  }
  /** Resumes the invocations pinned to a version's deployments on the latest deployment. */
  moveInvocations(service: string, version: string): Promise<Moved> {
    return this.#commands.moveInvocations(service, version);
  }
  /** An operator's promote or abort of a running rollout, applied by a pass. */
  rollout(service: string, what: "promote" | "abort"): Promise<ReconcileResult> {
    return this.#commands.rollout(service, what);
  }
  /** `gridiron suspend [<service>]`: from the next pass on, nothing of it changes. */
  suspend(req: SuspendRequest): Promise<Suspended> {
    return this.#commands.suspend(req);
  }
  /** `gridiron resume [<service>]`: lifts the suspension and runs a pass that applies what waited. */
  resume(service: string | undefined): Promise<Resumed & { pass: ReconcileResult }> {
    return this.#commands.resume(service);
  }

  status(): Status {
    return this.#statusAt(this.#last?.at ?? new Date().toISOString());
  }

  #statusAt(now: string): Status {
    const status = buildStatus({
      last: this.#last,
      now,
      served: this.#d.cells.served,
      failedVersions: this.#failedVersions,
      serviceErrors: this.#serviceErrors,
      pins: new Map(this.#pins.entries()),
      conditionMemory: this.#conditions,
      source: { kind: this.#d.source.kind, location: this.#d.source.location, revision: this.#last?.o.revision, error: this.#sourceError },
      workerd: this.#d.cells.status((cell) => this.#d.faults?.health(cell)),
      restate: { ingressUrl: this.#d.ingressUrl, adminUrl: this.#d.admin.baseUrl, pid: this.#d.restatePid?.() },
      history: this.#history,
      faults: this.#d.faults?.record,
      rollouts: this.#rollouts.status(),
      suspensions: this.#suspend.all(),
      exempt: this.#suspend.exempt,
    });
    return { cluster: this.#registrar.status(), ...status };
  }

  /** Waits for the running and queued passes to finish; no follow-up passes after this. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#followUp);
    await this.#queue.onIdle();
  }
}
