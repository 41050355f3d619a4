// One reconcile pass, level-triggered and idempotent: source → desired, Restate + store → actual,
// plan (pure), then effects in a fixed order — store, validate on a scratch workerd, serve (swap
// the workerd generation), register/promote with Restate, deregister what drained, serve again
// without it, GC. Passes are serialized and coalesced; drains are followed up by timer.
import { EventEmitter } from "node:events";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import PQueue from "p-queue";
import type { Logger } from "pino";
import { deploymentUri, ourDeployments, type OurDeployment } from "../restate/deployments.ts";
import { DEFAULT_LIMITS, type BundleCache, type BundleLimits, type BundleSpec } from "../source/bundle.ts";
import { ALLOW_EMPTY_FILE, readDesired } from "../source/desired.ts";
import { DRAIN_QUERY, blockingInvocations, parseInvocationRows } from "../restate/invocations.ts";
import { GridironError, asGridironError } from "../core/errors.ts";
import { fault } from "../core/faults.ts";
import { Pins } from "../store/pins.ts";
import { DEFAULT_GRACE_MS, DEFAULT_RETAIN, keyOf, plan as planActions, type Action, type DrainTimer, type Plan, type RegisteredVersion, type VersionRef } from "./plan.ts";
import type { RestateAdmin, RestateService } from "../restate/admin.ts";
import type { Source } from "../source/source.ts";
import { buildStatus } from "./status-view.ts";
import type { ReconcileResult, Status } from "./status.ts";
import type { StoredVersion, VersionStore } from "../store/versions.ts";
import { validateVersion } from "../workerd/validate.ts";
import { Serving } from "../workerd/serving.ts";
import { ROUTER_FILE, type ServedVersion, type WorkerdMode, type WorkerdPolicy } from "../workerd/build.ts";
import type { ConfigFiles } from "../workerd/config-files.ts";
import type { WorkerdProcess } from "../workerd/process.ts";

const HISTORY = 10;

/**
 * Restate keeps HTTP/1.1 connections to a deployment alive and reuses them. When a workerd
 * generation is replaced it closes its idle connections, and a request Restate writes on one at
 * that moment fails ("connection closed before message completed") and is retried. With
 * `Connection: close` on every request nothing is pooled: each request opens a connection, which
 * only a live generation accepts (TCP_DEFER_ACCEPT hands it over with its request).
 */
const DEPLOYMENT_HEADERS = { connection: "close" };

export interface LifecycleOptions {
  /** How long a version must stay drained before removal. */
  graceMs: number;
  /** Report a version as stuck after draining this long (null: never). */
  deadlineMs: number | null;
  /** Versions kept on disk per service. */
  retain: number;
  /** How often drains are re-checked while any version is draining. */
  drainPollMs: number;
}

export const DEFAULT_LIFECYCLE: LifecycleOptions = { graceMs: DEFAULT_GRACE_MS, deadlineMs: null, retain: DEFAULT_RETAIN, drainPollMs: 2000 };

export interface ReconcilerDeps {
  logger: Logger;
  source: Source;
  store: VersionStore;
  admin: RestateAdmin;
  workerd: WorkerdProcess;
  configFiles: ConfigFiles;
  /** Base URL Restate uses to reach our workerd, e.g. http://127.0.0.1:9080 */
  workerdUrl: string;
  ingressUrl: string;
  dataDir: string;
  /** Request identity keys and outbound policy of every workerd config (serving and scratch). */
  workerdPolicy: WorkerdPolicy;
  /** Signs Gridiron's own requests to workerd (the scratch /discover) like Restate does. */
  signRequest?: (path: string) => Record<string, string>;
  limits?: BundleLimits;
  lifecycle?: Partial<LifecycleOptions>;
  /** How long a new version may take to load on the scratch workerd. */
  validateTimeoutMs?: number;
  /** pid of the restate-server we manage, for status (undefined when it is external). */
  restatePid?: () => number | undefined;
  /** Register without `Connection: close` (see DEPLOYMENT_HEADERS); applies to new registrations. */
  restateKeepAlive?: boolean;
  /** How workerd serves versions (build.ts); default "static". */
  workerdMode?: WorkerdMode;
  /** Loader mode: the version store's root, which the router reads module bytes from. */
  versionsDir?: string;
  /**
   * Loader mode: versions dropped from the live set stay loaded (the Worker Loader never evicts
   * them) until a fresh generation replaces the process; it does once this many have piled up.
   */
  recycleAfter?: number;
}

/** A desired version with its bytes (from the source, or from the store for a rollback pin). */
export interface Candidate extends ServedVersion {
  fromPin: boolean;
}

export interface PlanReport {
  revision: string;
  plan: Omit<Plan, "timers">;
  invalid: { service: string; code: string; message: string }[];
  /** New versions as a pass would see them after validation (scratch workerd + Restate dry run). */
  checks: { service: string; version: string; ok: boolean; message?: string; restateServices?: string[] }[];
}

/** A deployment of ours with what the pass learned about it (latest for, still needed by). */
export type ObservedDeployment = OurDeployment & RegisteredVersion;

export interface Gathered {
  revision: string;
  desired: Map<string, Candidate>;
  /** What the source alone asks for, per service (before rollback pins). */
  sourceVersions: Map<string, string>;
  errors: Map<string, GridironError>;
  empty: boolean;
  allowEmpty: boolean;
  deployments: ObservedDeployment[];
  /** Restate's services as they are now (handlers, latest deployment). */
  catalog: RestateService[];
  stored: StoredVersion[];
  /**
   * Set while the query for what still needs each deployment runs (its result is not in
   * `deployments[].blocking` yet): it scans every invocation Restate retains, so a pass deploys
   * meanwhile and waits for it only before draining or removing anything (see knowBlocking).
   */
  blocking?: Promise<Map<string, string[]>>;
}

export interface ReconcilerEvents {
  /** After every pass, whatever its outcome (metrics, status page). */
  pass: [ReconcileResult];
}

export class Reconciler extends EventEmitter<ReconcilerEvents> {
  readonly #d: ReconcilerDeps;
  readonly #log: Logger;
  readonly #life: LifecycleOptions;
  readonly #queue = new PQueue({ concurrency: 1 });
  readonly #pins: Pins;
  #queued: Promise<ReconcileResult> | undefined;
  #queuedToken: object | undefined;
  #routerSource: string | undefined;
  readonly #serving: Serving;
  #timers = new Map<string, DrainTimer>();
  #followUp: NodeJS.Timeout | undefined;
  #closed = false;
  /** Consecutive passes that failed for a transient reason (drives the retry backoff). */
  #failures = 0;
  #last: { g: Gathered; plan: Plan } | undefined;
  /** Versions that failed validation: not retried on every resync (cleared on manual reconcile). */
  readonly #failedVersions = new Map<string, GridironError>();
  readonly #serviceErrors = new Map<string, { code: string; message: string; since: string }>();
  /** Restate services each validated version provides. */
  readonly #restateServices = new Map<string, string[]>();
  readonly #history: ReconcileResult[] = [];
  #sourceError: string | undefined;
  #passes = 0;
  readonly #bundles: BundleCache = new Map();
  /** Per service and condition type: its last status and since when (see status-view.ts). */
  readonly #conditions = new Map<string, Map<string, { status: boolean; since: string }>>();

  constructor(deps: ReconcilerDeps) {
    super();
    this.#d = deps;
    this.#log = deps.logger.child({ component: "reconciler" });
    this.#life = { ...DEFAULT_LIFECYCLE, ...deps.lifecycle };
    this.#pins = new Pins(deps.dataDir);
    this.#serving = new Serving({
      workerd: deps.workerd, configFiles: deps.configFiles, store: deps.store, policy: deps.workerdPolicy,
      mode: deps.workerdMode, versionsDir: deps.versionsDir, recycleAfter: deps.recycleAfter, routerSource: () => this.#router(),
    });
  }

  async #router(): Promise<string> {
    this.#routerSource ??= await readFile(ROUTER_FILE, "utf8");
    return this.#routerSource;
  }

  /**
   * Starts the first workerd generation with every version Restate still has registered (and the
   * store still holds), so registered versions answer before the first pass changes anything.
   */
  async start(): Promise<void> {
    await this.#d.store.sweepTemp();
    await this.#pins.load();
    const deployments = ourDeployments(this.#d.workerdUrl, await this.#d.admin.listDeployments());
    const stored = new Set((await this.#d.store.list()).map((s) => keyOf(s.spec)));
    const serve = new Map<string, VersionRef>();
    for (const d of deployments) if (stored.has(keyOf(d))) serve.set(keyOf(d), { service: d.service, version: d.version });
    const refs = [...serve.values()];
    const port = await this.#serving.start(refs);
    this.#log.info({ versions: refs.length, port }, "workerd serving registered versions");
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

  async #gather(opts: { blocking: boolean } = { blocking: true }): Promise<Gathered> {
    const artifact = await this.#d.source.fetch();
    const desired = await readDesired(artifact.dir, this.#d.limits ?? DEFAULT_LIMITS, this.#bundles);
    const candidates = new Map<string, Candidate>(desired.bundles.map((b) => [b.spec.service, { spec: b.spec, files: b.files, fromPin: false }]));
    const sourceVersions = new Map(desired.bundles.map((b) => [b.spec.service, b.spec.version]));
    return {
      revision: artifact.revision,
      desired: candidates,
      sourceVersions,
      errors: desired.errors,
      empty: desired.empty,
      allowEmpty: desired.allowEmpty,
      ...(await this.#observe(opts.blocking ? sourceVersions : null)),
    };
  }

  /** Waits for the invocation query `g` started, if any, and puts its answer into `g.deployments`. */
  async #knowBlocking(g: Gathered): Promise<void> {
    if (!g.blocking) return;
    const blocking = await g.blocking;
    g.deployments = g.deployments.map((d) => ({ ...d, blocking: blocking.get(d.deploymentId) ?? [] }));
    delete g.blocking;
  }

  /**
   * After a pass that registered or removed something: what Restate and the store hold now. The
   * invocations each deployment waits for are carried over from the pass's own query (by
   * deployment id) instead of scanning Restate's invocations a second time.
   */
  async #refresh(g: Gathered): Promise<Pick<Gathered, "deployments" | "catalog" | "stored">> {
    const now = await this.#observe(null);
    const known = new Map(g.deployments.map((d) => [d.deploymentId, d.blocking]));
    return { ...now, deployments: now.deployments.map((d) => ({ ...d, blocking: known.get(d.deploymentId) ?? [] })) };
  }

  /**
   * What Restate and the store hold now: the part of `actual` a pass's own effects change.
   * `desired` (service → version the source asks for) decides whether Restate's invocations are
   * queried for what still needs each deployment; null skips that query (every `blocking` empty).
   * The query is started, not awaited: its answer comes as `blocking` (see #knowBlocking).
   */
  async #observe(desired: ReadonlyMap<string, string> | null): Promise<Pick<Gathered, "deployments" | "catalog" | "stored" | "blocking">> {
    const admin = this.#d.admin;
    const [rawDeployments, catalog, stored] = await Promise.all([admin.listDeployments(), admin.services(), this.#d.store.list()]);
    const latest = new Map(catalog.map((s) => [s.name, s.deploymentId]));
    const latestFor = new Map<string, string[]>();
    for (const [svc, id] of latest) latestFor.set(id, [...(latestFor.get(id) ?? []), svc]);
    const ours = ourDeployments(this.#d.workerdUrl, rawDeployments);
    // Which invocations still need a deployment matters only for one that may be on its way out:
    // not latest for any service, or not what the source asks for (replaced, removed, pinned).
    // Restate keeps completed invocations for a day and the query scans them all (about 0.7 µs a
    // row here: 90 s for a day of 1,500 calls/s), so a pass where every deployment of ours is
    // latest and desired does not ask.
    const needed = desired !== null && ours.some((d) => !latestFor.has(d.deploymentId) || desired.get(d.service) !== d.version);
    const deployments = ours.map((d) => ({ ...d, latestFor: latestFor.get(d.deploymentId) ?? [], blocking: [] }));
    if (!needed) return { deployments, catalog, stored };
    const blocking = admin.query(DRAIN_QUERY).then((rows) => blockingInvocations(parseInvocationRows(rows), latest));
    // Awaited later in the pass (or never, if the pass fails first): not an unhandled rejection.
    blocking.catch(() => undefined);
    return { deployments, catalog, stored, blocking };
  }

  /** Replaces the source's version with a pinned rollback version, until the source moves on. */
  async #applyPins(g: Gathered, log: Logger): Promise<void> {
    for (const [service, pin] of this.#pins.entries()) {
      const now = g.sourceVersions.get(service) ?? null;
      if (now !== pin.sourceVersion) {
        log.info({ service, pinned: pin.version, source: now }, "the source moved on: rollback pin released");
        await this.#pins.delete(service);
        continue;
      }
      const stored = g.stored.find((s) => s.spec.service === service && s.spec.version === pin.version);
      if (!stored) {
        log.warn({ service, pinned: pin.version }, "rollback pin names a version no longer stored: released");
        await this.#pins.delete(service);
        continue;
      }
      g.errors.delete(service);
      g.desired.set(service, { spec: { ...stored.spec, breaking: stored.spec.breaking || pin.breaking }, files: await this.#d.store.files(stored), fromPin: true });
    }
  }

  #plan(g: Gathered, held: Set<string>, now: number): Plan {
    const desired = [...g.desired.values()].map((c) => c.spec).filter((s) => !held.has(s.service));
    return planActions(
      desired,
      {
        stored: g.stored.map((s) => ({ service: s.spec.service, version: s.spec.version, storedAt: s.storedAt })),
        served: this.#serving.served,
        registered: g.deployments,
      },
      { held: [...held], now, graceMs: this.#life.graceMs, deadlineMs: this.#life.deadlineMs, retain: this.#life.retain, timers: this.#timers },
    );
  }

  /** Services whose registered versions must be left exactly as they are this pass. */
  #held(g: Gathered): Set<string> {
    const held = new Set(g.errors.keys());
    for (const c of g.desired.values()) if (this.#failedVersions.has(keyOf(c.spec))) held.add(c.spec.service);
    if (g.empty && !g.allowEmpty) for (const d of g.deployments) held.add(d.service);
    return held;
  }

  /** What a pass would do now, without doing it. New versions are checked on scratch workerds only. */
  async plan(): Promise<PlanReport> {
    return this.#queue.add(async () => {
      const g = await this.#gather();
      await this.#knowBlocking(g);
      await this.#applyPins(g, this.#log);
      const held = this.#held(g);
      let p = this.#plan(g, held, Date.now());
      const checks: PlanReport["checks"] = [];
      for (const a of p.actions) {
        if (a.type !== "serve") continue;
        const c = g.desired.get(a.service)!;
        try {
          const v = await validateVersion(c, this.#validateDeps());
          checks.push({ service: a.service, version: a.version, ok: true, restateServices: v.restateServices });
        } catch (err) {
          checks.push({ service: a.service, version: a.version, ok: false, message: asGridironError(err).message });
          held.add(a.service);
        }
      }
      // A refused version would be held by the pass: show the plan the pass would really run.
      if (checks.some((c) => !c.ok)) p = this.#plan(g, held, Date.now());
      const { timers: _timers, ...rest } = p;
      return { revision: g.revision, plan: rest, checks, invalid: [...g.errors].map(([service, e]) => ({ service, code: e.code, message: e.message })) };
    }) as Promise<PlanReport>;
  }

  /** The scratch workerd logs under its own component, so it gets the root logger (not a pass child). */
  #validateDeps() {
    return { logger: this.#d.logger, timeoutMs: this.#d.validateTimeoutMs, admin: this.#d.admin, routerSource: this.#routerSource!, policy: this.#d.workerdPolicy, signRequest: this.#d.signRequest, scratchDir: join(this.#d.dataDir, "workerd", "scratch") };
  }

  async #pass(trigger: string): Promise<ReconcileResult> {
    const id = ++this.#passes;
    const started = performance.now();
    const result: ReconcileResult = { id, trigger, startedAt: new Date().toISOString(), durationMs: 0, outcome: "ok", actions: [], deployed: [], errors: [] };
    let log = this.#log.child({ pass: id });
    log.debug({ trigger }, "reconcile pass started");
    let draining = false;
    try {
      await this.#router();
      const g = await this.#gather();
      result.revision = g.revision;
      // Every later line of this pass says which desired state it works from.
      log = log.child({ revision: g.revision });
      this.#sourceError = undefined;
      await this.#applyPins(g, log);
      if (g.empty && !g.allowEmpty) {
        this.#sourceError = `${this.#d.source.location} holds no bundles: nothing is removed. Add a bundle, or create ${ALLOW_EMPTY_FILE} there to remove everything.`;
        log.warn({ location: this.#d.source.location }, "source is empty; refusing to prune");
      }
      for (const [service, err] of g.errors) this.#setServiceError(service, err);

      const held = this.#held(g);
      let p = this.#plan(g, held, Date.now());

      // Validate first (from the bytes in memory), so a rejected version is never stored and can
      // never be picked by a rollback.
      const rejected = await this.#validateNew(p, g, held, log);
      rejected.push(...this.#conflicts(g, held));
      for (const { service, error } of rejected) {
        this.#setServiceError(service, error);
        result.errors.push(error.toJSON());
        held.add(service);
      }
      // Rejected versions leave the desired set; plan again (pure and cheap) without them.
      if (rejected.length > 0) p = this.#plan(g, held, Date.now());

      let unstored = false;
      for (const a of p.actions) {
        if (a.type !== "store") continue;
        const c = g.desired.get(a.service)!;
        try {
          const { created, stored } = await this.#d.store.put({ spec: c.spec, files: c.files as Map<string, Uint8Array> });
          fault("after-store");
          log.info({ service: a.service, version: a.version, created }, "version stored");
          result.actions.push(a);
          g.stored.push(stored);
        } catch (err) {
          // Disk full or read-only: this version cannot go live, and nothing that serves changes.
          const e = asGridironError(err);
          log.error({ service: a.service, version: a.version, err: e.toJSON() }, "version could not be stored; the serving version is untouched");
          this.#setServiceError(a.service, e);
          result.errors.push(e.toJSON());
          held.add(a.service);
          unstored = true;
        }
      }
      if (unstored) p = this.#plan(g, held, Date.now());

      // Serve new versions before registering them, and keep removed ones until deregistered.
      // (Until the invocation query answers, every registered version counts as maybe needed:
      // this plan's serve set and removals together hold all of them.)
      const maybeRemoved = p.actions.filter((a) => a.type === "remove");
      const before = new Map([...p.serve, ...maybeRemoved].map((v) => [keyOf(v), { service: v.service, version: v.version }]));
      await this.#serving.apply([...before.values()], candidatesOf(g), log);
      for (const a of p.actions) if (a.type === "serve") result.actions.push(a);

      for (const a of p.actions) {
        if (a.type !== "register" && a.type !== "promote") continue;
        fault("before-register");
        await this.#register(a, g.desired.get(a.service)!.spec, g.revision, log);
        fault("after-register");
        result.actions.push(a);
        result.deployed.push({ service: a.service, version: a.version });
        this.#failedVersions.clear();
      }
      // Draining and removing need what still needs each deployment. That query scans every
      // invocation Restate retains (a day's worth), so it ran while this pass deployed: how soon a
      // new version answers does not depend on how many calls Restate remembers. The plan is made
      // again with its answer; deploy decisions do not depend on it, and the ones above are done.
      if (g.blocking) {
        await this.#knowBlocking(g);
        p = this.#plan(g, held, Date.now());
      }
      const removals = p.actions.filter((a): a is Extract<Action, { type: "remove" }> => a.type === "remove");
      for (const a of p.actions) {
        if (a.type === "drain") {
          draining = true;
          if (a.stuck) {
            result.errors.push({ code: "VERSION_STUCK", kind: "stalled", message: `${a.service}/${a.version} is past its drain deadline; still needed by ${a.blocking} invocation(s): ${a.invocations.join(", ")}` });
          }
        } else if (a.type === "orphan") {
          result.errors.push({ code: "VERSION_UNSERVABLE", kind: "stalled", message: `${a.service}/${a.version} is registered in Restate (${a.deploymentId}) but missing from the version store; it cannot be served` });
          result.actions.push(a);
        }
      }
      for (const a of removals) {
        fault("before-deregister");
        await this.#d.admin.deregister(a.deploymentId);
        fault("after-deregister");
        log.info({ service: a.service, version: a.version, deploymentId: a.deploymentId }, "drained version deregistered");
        result.actions.push(a);
      }
      await this.#serving.apply(p.serve, candidatesOf(g), log);
      for (const a of p.actions) {
        if (a.type !== "gc") continue;
        await this.#d.store.remove(a.service, a.version);
        log.info({ service: a.service, version: a.version }, "version removed from disk (retention)");
        result.actions.push(a);
      }
      this.#timers = p.timers;

      // A service whose desired version now serves has no error left to report.
      for (const c of g.desired.values()) if (!held.has(c.spec.service)) this.#serviceErrors.delete(c.spec.service);
      for (const service of this.#serviceErrors.keys()) {
        if (!g.errors.has(service) && !g.desired.has(service)) this.#serviceErrors.delete(service);
      }
      // Status reflects what this pass registered or removed; the source was read at its start
      // (fetching it again, for git a second fetch, would only race with the next pass). Drain
      // figures in status come from this pass's plan, so the invocation query is not run again.
      const fresh = result.deployed.length + removals.length > 0 ? { ...g, ...(await this.#refresh(g).catch(() => ({}))) } : g;
      this.#last = { g: fresh, plan: p };
    } catch (err) {
      const e = asGridironError(err);
      result.errors.push(e.toJSON());
      if (e.code.startsWith("SOURCE")) this.#sourceError = e.message;
      log.error({ err: e.toJSON() }, "reconcile pass failed; nothing that serves was removed");
    } finally {
      result.durationMs = Math.round(performance.now() - started);
      const failedPass = result.errors.length > 0;
      result.outcome = failedPass ? (result.actions.length > 0 ? "partial" : "error") : result.actions.length > 0 ? "ok" : "noop";
      this.#history.unshift(result);
      this.#history.length = Math.min(this.#history.length, HISTORY);
      const level = result.outcome === "noop" ? "debug" : failedPass ? "warn" : "info";
      log[level]({ trigger, outcome: result.outcome, ms: result.durationMs, deployed: result.deployed, actions: result.actions.map((a) => `${a.type} ${a.service}/${a.version}`) }, "reconcile pass done");
      const retry = result.errors.some((e) => e.kind !== "stalled") && result.deployed.length === 0;
      this.#failures = retry ? this.#failures + 1 : 0;
      this.#scheduleFollowUp(draining, retry);
      this.emit("pass", result);
    }
    return result;
  }

  /** Validates versions new to workerd; returns those rejected (and caches why). */
  async #validateNew(p: Plan, g: Gathered, held: Set<string>, log: Logger): Promise<{ service: string; error: GridironError }[]> {
    const rejected: { service: string; error: GridironError }[] = [];
    for (const a of p.actions) {
      if (a.type !== "serve" || held.has(a.service)) continue;
      const c = g.desired.get(a.service)!;
      try {
        const v = await validateVersion(c, this.#validateDeps());
        const removed = removedHandlers(g, a.service, v.handlers);
        if (removed.length > 0 && !c.spec.breaking) {
          throw new GridironError("BREAKING_CHANGE", "stalled",
            `bundle "${a.service}" (version ${a.version}) removes ${removed.join(", ")} that the serving version provides; calls to them would fail. If that is intended, set "breaking": true in gridiron.json`,
            { service: a.service, version: a.version, removed });
        }
        this.#restateServices.set(keyOf(a), v.restateServices);
        log.info({ service: a.service, version: a.version, restateServices: v.restateServices, ms: v.ms }, "version validated");
      } catch (err) {
        const e = asGridironError(err);
        if (e.kind !== "stalled") throw e;
        log.error({ service: a.service, version: a.version, err: e.toJSON() }, "version rejected; the serving version is untouched");
        this.#failedVersions.set(keyOf(a), e);
        rejected.push({ service: a.service, error: e });
      }
    }
    return rejected;
  }

  /**
   * Two bundles must not both provide one Restate service. What serves claims first: a Restate
   * service whose latest deployment belongs to a bundle still present in the source (even a
   * broken, held one) stays with it; a newcomer that also provides it is refused, naming both.
   */
  #conflicts(g: Gathered, held: Set<string>): { service: string; error: GridironError }[] {
    const present = new Set([...g.desired.keys(), ...g.errors.keys()]);
    const owners = new Map<string, string>();
    for (const d of g.deployments) {
      if (!present.has(d.service)) continue;
      for (const rs of d.latestFor ?? []) owners.set(rs, d.service);
    }
    const out: { service: string; error: GridironError }[] = [];
    const provided = (spec: BundleSpec) =>
      this.#restateServices.get(keyOf(spec)) ?? g.deployments.find((d) => keyOf(d) === keyOf(spec))?.restateServices ?? [];
    const candidates = [...g.desired.values()].filter((c) => !held.has(c.spec.service)).sort((a, b) => (a.spec.service < b.spec.service ? -1 : 1));
    for (const { spec } of candidates) {
      for (const rs of provided(spec)) {
        const owner = owners.get(rs);
        if (owner !== undefined && owner !== spec.service) {
          out.push({
            service: spec.service,
            error: new GridironError("SERVICE_CONFLICT", "stalled",
              `bundle "${spec.service}" provides Restate service "${rs}", which bundle "${owner}" already provides; one Restate service belongs to one bundle: remove it from one of them`,
              { service: spec.service, restateService: rs, owner }),
          });
          break;
        }
        owners.set(rs, spec.service);
      }
    }
    return out;
  }

  async #register(a: VersionRef & { type: "register" | "promote" }, spec: BundleSpec, revision: string, log: Logger): Promise<void> {
    // A promote registers a version that Restate still knows under its old URI: Restate does not
    // make a re-registered URI latest again, so it gets a fresh tag (see actual.ts).
    const tag = a.type === "promote" ? `r${Date.now().toString(36)}` : undefined;
    const res = await this.#d.admin.register({
      uri: deploymentUri(this.#d.workerdUrl, a.service, a.version, tag),
      force: false,
      breaking: spec.breaking,
      headers: this.#d.restateKeepAlive ? undefined : DEPLOYMENT_HEADERS,
      metadata: { "gridiron.service": a.service, "gridiron.version": a.version, "gridiron.digest": spec.digest, "gridiron.revision": revision },
    });
    log.info({ service: a.service, version: a.version, deploymentId: res.id, restateServices: res.services.map((s) => s.name), promoted: a.type === "promote" }, "version registered: new calls reach it");
  }

  /**
   * The next pass comes early when something is draining (to notice the drain end and the grace
   * expiry) or when this one failed for a reason that may pass by itself (backoff 0.5 s → 30 s).
   */
  #scheduleFollowUp(draining: boolean, retry: boolean): void {
    clearTimeout(this.#followUp);
    this.#followUp = undefined;
    if ((!draining && !retry) || this.#closed) return;
    const now = Date.now();
    const nextRemoval = Math.min(...[...this.#timers.values()].map((t) => (t.drainedAt ?? Infinity) + this.#life.graceMs));
    const drainDelay = draining ? Math.min(this.#life.drainPollMs, nextRemoval - now) : Infinity;
    const retryDelay = retry ? Math.min(30_000, 500 * 2 ** Math.min(this.#failures - 1, 6)) : Infinity;
    const delay = Math.max(50, Math.min(drainDelay, retryDelay));
    this.#followUp = setTimeout(() => void this.reconcile(retry && retryDelay <= drainDelay ? "retry" : "drain"), delay);
    this.#followUp.unref();
  }

  #setServiceError(service: string, e: GridironError): void {
    const prev = this.#serviceErrors.get(service);
    // Logged when the reason changes, not on every resync that sees the same bad bundle.
    if (prev?.message !== e.message) this.#log.warn({ service, err: e.toJSON() }, "bundle rejected; what serves is untouched");
    // The transition time changes only when the condition does.
    const since = prev && prev.message === e.message ? prev.since : new Date().toISOString();
    this.#serviceErrors.set(service, { code: e.code, message: e.message, since });
  }

  /** Pins `version` (default: the newest stored version other than the one serving) and reconciles. */
  async rollback(service: string, version?: string, opts: { breaking?: boolean } = {}): Promise<ReconcileResult> {
    const stored = (await this.#d.store.list()).filter((s) => s.spec.service === service).sort((a, b) => (a.storedAt < b.storedAt ? 1 : -1));
    const serving = this.status().services.find((s) => s.service === service)?.serving;
    const target = version ?? stored.find((s) => s.spec.version !== serving && !this.#failedVersions.has(keyOf(s.spec)))?.spec.version;
    if (!target) throw new GridironError("ROLLBACK_NO_VERSION", "stalled", `no stored version of "${service}" to roll back to (stored: ${stored.map((s) => s.spec.version).join(", ") || "none"})`);
    if (!stored.some((s) => s.spec.version === target)) {
      throw new GridironError("ROLLBACK_NO_VERSION", "stalled", `version ${target} of "${service}" is not in the store (stored: ${stored.map((s) => s.spec.version).join(", ") || "none"}); retention may have removed it`);
    }
    const g = await this.#gather({ blocking: false });
    await this.#pins.set(service, { version: target, sourceVersion: g.sourceVersions.get(service) ?? null, breaking: opts.breaking ?? false, at: new Date().toISOString() });
    this.#failedVersions.clear();
    this.#log.info({ service, version: target }, "rollback pinned");
    return this.reconcile("rollback");
  }

  /**
   * Pauses the invocations still pinned to a version's deployments and resumes them on the latest
   * deployment. An explicit operator choice: Restate may fail an invocation whose journal the new
   * code cannot replay.
   */
  async moveInvocations(service: string, version: string): Promise<{ moved: string[]; failed: { id: string; error: string }[] }> {
    const deployments = (this.#last?.g.deployments ?? []).filter((d) => d.service === service && d.version === version);
    const ids = [...new Set(deployments.flatMap((d) => [...(d.blocking ?? [])]))];
    const moved: string[] = [];
    const failed: { id: string; error: string }[] = [];
    for (const id of ids) {
      try {
        await this.#d.admin.pauseInvocation(id);
        await this.#d.admin.resumeInvocation(id, "latest");
        moved.push(id);
      } catch (err) {
        failed.push({ id, error: (err as Error).message });
      }
    }
    this.#log.info({ service, version, moved: moved.length, failed: failed.length }, "invocations moved to the latest deployment");
    void this.reconcile("move");
    return { moved, failed };
  }

  status(): Status {
    return buildStatus({
      last: this.#last,
      served: this.#serving.served,
      failedVersions: this.#failedVersions,
      serviceErrors: this.#serviceErrors,
      pins: new Map(this.#pins.entries()),
      conditionMemory: this.#conditions,
      source: { kind: this.#d.source.kind, location: this.#d.source.location, revision: this.#last?.g.revision, error: this.#sourceError },
      workerd: {
        url: this.#d.workerdUrl, pid: this.#d.workerd.pid, generation: this.#d.workerd.generation, mode: this.#serving.mode,
        ...(this.#serving.mode === "loader" ? { retiredLoaded: this.#serving.retiredLoaded() } : {}),
      },
      restate: { ingressUrl: this.#d.ingressUrl, adminUrl: this.#d.admin.baseUrl, pid: this.#d.restatePid?.() },
      history: this.#history,
      graceMs: this.#life.graceMs,
    });
  }

  /** Waits for the running and queued passes to finish; no follow-up passes after this. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#followUp);
    await this.#queue.onIdle();
  }
}

/**
 * Restate accepts a deployment that drops a handler (or a whole service) the current one has, and
 * calls to it then fail; Gridiron treats that as a breaking change needing the manifest's opt-in.
 */
function removedHandlers(g: Gathered, service: string, next: ReadonlyMap<string, string[]>): string[] {
  const current = g.deployments.filter((d) => d.service === service && (d.latestFor?.length ?? 0) > 0);
  const removed: string[] = [];
  for (const d of current) {
    for (const rs of d.latestFor ?? []) {
      const handlers = next.get(rs);
      if (!handlers) {
        removed.push(`service ${rs}`);
        continue;
      }
      for (const h of g.catalog.find((c) => c.name === rs)?.handlers ?? []) if (!handlers.includes(h)) removed.push(`handler ${rs}/${h}`);
    }
  }
  return removed;
}

export type { Action };

/** The versions a pass holds bytes for, by "<service>/<version>". */
function candidatesOf(g: Gathered): Map<string, ServedVersion> {
  return new Map([...g.desired.values()].map((c) => [keyOf(c.spec), c]));
}
