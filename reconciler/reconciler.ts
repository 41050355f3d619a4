// One reconcile pass, level-triggered and idempotent: source → desired, Restate + store → actual,
// plan (pure), then effects in a fixed order — store, validate on a scratch workerd, swap the
// serving workerd generation, register with Restate. Passes are serialized and coalesced.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import PQueue from "p-queue";
import type { Logger } from "pino";
import { deploymentUri, ourDeployments, type OurDeployment } from "./actual.ts";
import { DEFAULT_LIMITS, type Bundle, type BundleLimits } from "./bundle.ts";
import { readDesired } from "./desired.ts";
import { asGridironError, type GridironError } from "./errors.ts";
import { keyOf, plan as planActions, type Action, type Plan, type VersionRef } from "./plan.ts";
import type { RestateAdmin } from "./restate/admin.ts";
import type { Source } from "./sources/source.ts";
import type { ReconcileResult, ServiceStatus, Status, VersionStatus } from "./status.ts";
import type { VersionStore } from "./store/versions.ts";
import { validateVersion } from "./validate.ts";
import { buildWorkerdConfig, type ServedVersion } from "./workerd/build.ts";
import type { ConfigFiles } from "./workerd/config-files.ts";
import { encodeWorkerdConfig } from "./workerd/encode.ts";
import type { WorkerdProcess } from "./workerd/process.ts";

const ROUTER_PATH = new URL("./workerd/router.js", import.meta.url);
const HISTORY = 10;

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
  limits?: BundleLimits;
}

export interface PlanReport {
  revision: string;
  plan: Plan;
  invalid: { service: string; code: string; message: string }[];
}

interface Gathered {
  revision: string;
  bundles: Map<string, Bundle>;
  errors: Map<string, GridironError>;
  deployments: OurDeployment[];
  stored: VersionRef[];
}

export class Reconciler {
  readonly #d: ReconcilerDeps;
  readonly #log: Logger;
  readonly #queue = new PQueue({ concurrency: 1 });
  #queued: Promise<ReconcileResult> | undefined;
  #queuedToken: object | undefined;
  #routerSource: string | undefined;
  #served: VersionRef[] = [];
  #deployments: OurDeployment[] = [];
  /** Versions that failed validation: same bytes fail the same way, so they are not retried on resync. */
  readonly #failedVersions = new Map<string, GridironError>();
  readonly #serviceErrors = new Map<string, { code: string; message: string; since: string }>();
  readonly #history: ReconcileResult[] = [];
  #revision: string | undefined;
  #sourceError: string | undefined;
  #passes = 0;

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#log = deps.logger.child({ component: "reconciler" });
  }

  async #router(): Promise<string> {
    this.#routerSource ??= await readFile(ROUTER_PATH, "utf8");
    return this.#routerSource;
  }

  /**
   * Starts the first workerd generation with every version Restate still has registered (and the
   * store still holds), so registered versions answer before the first pass changes anything.
   */
  async start(): Promise<void> {
    await this.#d.store.sweepTemp();
    this.#deployments = ourDeployments(this.#d.workerdUrl, await this.#d.admin.listDeployments());
    const stored = new Set((await this.#d.store.list()).map((s) => keyOf(s.spec)));
    const serve = this.#deployments.filter((d) => stored.has(keyOf(d))).map((d) => ({ service: d.service, version: d.version }));
    const path = await this.#writeConfig(serve);
    const { port } = await this.#d.workerd.start(path);
    await this.#d.configFiles.commit(path);
    this.#served = serve;
    this.#log.info({ versions: serve.length, port }, "workerd serving registered versions");
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

  /** What a pass would do now, without doing it (validation of new versions is not run). */
  async plan(): Promise<PlanReport> {
    const g = await this.#gather();
    const desired = [...g.bundles.values()].map((b) => b.spec).filter((s) => !this.#failedVersions.has(keyOf(s)));
    const held = [...g.errors.keys(), ...[...g.bundles.values()].filter((b) => this.#failedVersions.has(keyOf(b.spec))).map((b) => b.spec.service)];
    return {
      revision: g.revision,
      plan: planActions(desired, { stored: g.stored, served: this.#served, registered: g.deployments }, held),
      invalid: [...g.errors].map(([service, e]) => ({ service, code: e.code, message: e.message })),
    };
  }

  async #gather(): Promise<Gathered> {
    const artifact = await this.#d.source.fetch();
    const desired = await readDesired(artifact.dir, this.#d.limits ?? DEFAULT_LIMITS);
    const deployments = ourDeployments(this.#d.workerdUrl, await this.#d.admin.listDeployments());
    const stored = (await this.#d.store.list()).map((s) => ({ service: s.spec.service, version: s.spec.version }));
    return {
      revision: artifact.revision,
      bundles: new Map(desired.bundles.map((b) => [b.spec.service, b])),
      errors: desired.errors,
      deployments,
      stored,
    };
  }

  async #pass(trigger: string): Promise<ReconcileResult> {
    const id = ++this.#passes;
    const started = performance.now();
    const result: ReconcileResult = { id, trigger, startedAt: new Date().toISOString(), durationMs: 0, outcome: "ok", actions: [], deployed: [], errors: [] };
    const log = this.#log.child({ pass: id });
    log.debug({ trigger }, "reconcile pass started");
    const touched = new Set<string>();
    try {
      const g = await this.#gather();
      this.#revision = result.revision = g.revision;
      this.#sourceError = undefined;
      this.#deployments = g.deployments;

      const held = new Set(g.errors.keys());
      for (const [service, err] of g.errors) this.#setServiceError(service, err);
      for (const b of g.bundles.values()) {
        const failed = this.#failedVersions.get(keyOf(b.spec));
        if (failed) held.add(b.spec.service);
      }
      const desiredSpecs = () => [...g.bundles.values()].map((b) => b.spec).filter((s) => !held.has(s.service));
      const actual = () => ({ stored: g.stored, served: this.#served, registered: g.deployments });
      let p = planActions(desiredSpecs(), actual(), [...held]);

      for (const a of p.actions.filter((a) => a.type === "store")) {
        const bundle = g.bundles.get(a.service)!;
        const { created } = await this.#d.store.put(bundle);
        log.info({ service: a.service, version: a.version, created }, "version stored");
        result.actions.push(a);
        g.stored.push({ service: a.service, version: a.version });
      }

      let rejected = false;
      for (const a of p.actions.filter((a) => a.type === "serve")) {
        const bundle = g.bundles.get(a.service)!;
        try {
          const v = await validateVersion({ spec: bundle.spec, files: bundle.files }, {
            logger: log, admin: this.#d.admin, routerSource: await this.#router(), scratchDir: join(this.#d.dataDir, "workerd", "scratch"),
          });
          log.info({ service: a.service, version: a.version, restateServices: v.restateServices, ms: v.ms }, "version validated");
        } catch (err) {
          const e = asGridironError(err);
          if (e.kind !== "stalled") throw e;
          log.error({ service: a.service, version: a.version, err: e.toJSON() }, "version rejected; the serving version is untouched");
          this.#failedVersions.set(keyOf(a), e);
          this.#setServiceError(a.service, e);
          result.errors.push(e.toJSON());
          held.add(a.service);
          rejected = true;
        }
      }
      // Rejected versions leave the desired set; plan again (pure and cheap) without them.
      if (rejected) p = planActions(desiredSpecs(), actual(), [...held]);

      if (p.swap) {
        const t0 = performance.now();
        const path = await this.#writeConfig(p.serve);
        try {
          const { ms } = this.#d.workerd.pid === undefined ? { ms: (await this.#d.workerd.start(path), 0) } : await this.#d.workerd.swap(path);
          await this.#d.configFiles.commit(path);
          this.#served = p.serve;
          log.info({ versions: p.serve.length, handoverMs: ms, ms: Math.round(performance.now() - t0) }, "workerd config swapped");
        } catch (err) {
          await this.#d.configFiles.discard(path);
          throw err;
        }
        for (const a of p.actions) if (a.type === "serve") result.actions.push(a);
      }

      for (const a of p.actions) {
        if (a.type === "register") {
          const bundle = g.bundles.get(a.service)!;
          const res = await this.#d.admin.register({
            uri: deploymentUri(this.#d.workerdUrl, a.service, a.version),
            force: false,
            breaking: bundle.spec.breaking,
            metadata: {
              "gridiron.service": a.service,
              "gridiron.version": a.version,
              "gridiron.digest": bundle.spec.digest,
              "gridiron.revision": g.revision,
            },
          });
          log.info({ service: a.service, version: a.version, deploymentId: res.id, restateServices: res.services.map((s) => s.name) }, "version registered: new calls reach it");
          result.actions.push(a);
          result.deployed.push({ service: a.service, version: a.version });
          touched.add(a.service);
        } else if (a.type === "orphan") {
          const e = { code: "VERSION_UNSERVABLE", kind: "stalled", message: `${a.service}/${a.version} is registered in Restate (${a.deploymentId}) but missing from the version store; it cannot be served` };
          result.errors.push(e);
          result.actions.push(a);
        }
      }
      // A service whose desired version now serves has no error left to report.
      for (const spec of desiredSpecs()) this.#serviceErrors.delete(spec.service);
      for (const service of this.#serviceErrors.keys()) {
        if (!g.errors.has(service) && !g.bundles.has(service)) this.#serviceErrors.delete(service);
      }
      if (result.deployed.length > 0) this.#deployments = ourDeployments(this.#d.workerdUrl, await this.#d.admin.listDeployments());
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
      log[level]({ trigger, outcome: result.outcome, ms: result.durationMs, deployed: result.deployed, actions: result.actions.length, services: [...touched] }, "reconcile pass done");
    }
    return result;
  }

  #setServiceError(service: string, e: GridironError): void {
    const prev = this.#serviceErrors.get(service);
    // The transition time changes only when the condition does.
    const since = prev && prev.message === e.message ? prev.since : new Date().toISOString();
    this.#serviceErrors.set(service, { code: e.code, message: e.message, since });
  }

  async #writeConfig(serve: readonly VersionRef[]): Promise<string> {
    const versions: ServedVersion[] = [];
    for (const ref of serve) {
      const stored = await this.#d.store.get(ref.service, ref.version);
      if (!stored) throw new Error(`${keyOf(ref)} vanished from the version store`);
      versions.push({ spec: stored.spec, files: await this.#d.store.files(stored) });
    }
    return this.#d.configFiles.write(encodeWorkerdConfig(buildWorkerdConfig(versions, await this.#router())));
  }

  status(): Status {
    const services = new Map<string, ServiceStatus>();
    const entry = (service: string) => {
      let s = services.get(service);
      if (!s) services.set(service, (s = { service, versions: [] }));
      return s;
    };
    const served = new Set(this.#served.map(keyOf));
    const byService = new Map<string, OurDeployment[]>();
    for (const d of this.#deployments) byService.set(d.service, [...(byService.get(d.service) ?? []), d]);
    for (const [service, deps] of byService) {
      const s = entry(service);
      deps.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
      deps.forEach((d, i) => {
        const v: VersionStatus = {
          version: d.version,
          digest: d.metadata["gridiron.digest"],
          revision: d.metadata["gridiron.revision"],
          state: !served.has(keyOf(d)) ? "unservable" : i === 0 ? "serving" : "previous",
          deploymentId: d.deploymentId,
          restateServices: d.restateServices,
          registeredAt: d.createdAt,
        };
        if (v.state === "unservable") v.reason = "registered in Restate but not in workerd's config (missing from the version store)";
        s.versions.push(v);
        if (i === 0) s.serving = d.version;
      });
    }
    for (const [key, e] of this.#failedVersions) {
      const [service, version] = key.split("/") as [string, string];
      const s = entry(service);
      if (!s.versions.some((v) => v.version === version)) s.versions.unshift({ version, state: "failed", reason: e.message });
    }
    for (const [service, e] of this.#serviceErrors) entry(service).error = e;
    const src = this.#d.source;
    return {
      source: { kind: src.kind, location: src.location, revision: this.#revision, error: this.#sourceError },
      workerd: { url: this.#d.workerdUrl, pid: this.#d.workerd.pid, generation: this.#d.workerd.generation },
      restate: { ingressUrl: this.#d.ingressUrl, adminUrl: this.#d.admin.baseUrl },
      services: [...services.values()].sort((a, b) => (a.service < b.service ? -1 : 1)),
      lastReconcile: this.#history[0],
      history: [...this.#history],
    };
  }

  /** Waits for the running and queued passes to finish. */
  async idle(): Promise<void> {
    await this.#queue.onIdle();
  }
}

export type { Action };
