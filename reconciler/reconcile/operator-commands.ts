// What an operator asks of the loop between passes: pin a rollback, move invocations off a
// version, promote or abort a rollout, suspend or resume. Each runs inside the pass queue, so it
// never interleaves with a pass, and most end by running one; the loop itself is loop.ts.
import type PQueue from "p-queue";
import type { Logger } from "pino";
import { GridironError } from "../core/errors.ts";
import { moveToLatest } from "../restate/in-flight.ts";
import type { BundleCache } from "../source/bundle.ts";
import { keyOf } from "../source/names.ts";
import type { PinStore } from "../store/pins.ts";
import type { ReconcilerDeps } from "./deps.ts";
import { observeSource, type Observation } from "./observe.ts";
import type { RegistrarTurn } from "./registrar.ts";
import type { Rollouts } from "./rollouts.ts";
import type { ReconcileResult, Status } from "./status.ts";
import type { Resumed, SuspendControl, Suspended, SuspendRequest } from "./suspend.ts";

export type Moved = Awaited<ReturnType<typeof moveToLatest>>;

/** The loop's state a command reads or changes; the loop owns all of it. */
export interface LoopAccess {
  readonly deps: ReconcilerDeps;
  readonly log: Logger;
  readonly queue: PQueue;
  readonly pins: PinStore;
  readonly bundles: BundleCache;
  /** Versions the gate refused; a command that changes what is wanted clears them. */
  readonly failedVersions: Map<string, GridironError>;
  readonly registrar: RegistrarTurn;
  readonly rollouts: Rollouts;
  readonly suspend: SuspendControl;
  /** What the last pass observed after its effects, if a pass ran. */
  last(): Observation | undefined;
  status(): Status;
  /** Runs a pass at once: only from a task already inside the queue. */
  pass(trigger: string): Promise<ReconcileResult>;
  /** Queues a pass (shared with one already waiting). */
  reconcile(trigger: string): Promise<ReconcileResult>;
}

export class OperatorCommands {
  readonly #loop: LoopAccess;

  constructor(loop: LoopAccess) {
    this.#loop = loop;
  }

  /**
   * Pins `version` (default: the newest stored version other than the one serving) and runs a
   * pass, inside the queue: the source is read by one pass at a time.
   */
  async rollback(service: string, version?: string, opts: { breaking?: boolean } = {}): Promise<ReconcileResult> {
    const l = this.#loop;
    return l.queue.add(async () => {
      l.suspend.refuse(service, "rollback");
      const stored = (await l.deps.store.list()).filter((s) => s.spec.service === service).sort((a, b) => (a.storedAt < b.storedAt ? 1 : -1));
      const serving = l.status().services.find((s) => s.service === service)?.serving;
      const target = version ?? stored.find((s) => s.spec.version !== serving && !l.failedVersions.has(keyOf(s.spec)))?.spec.version;
      const list = stored.map((s) => s.spec.version).join(", ") || "none";
      if (!target) throw new GridironError("ROLLBACK_NO_VERSION", `no stored version of "${service}" to roll back to (stored: ${list})`);
      if (!stored.some((s) => s.spec.version === target)) {
        throw new GridironError("ROLLBACK_NO_VERSION", `version ${target} of "${service}" is not in the store (stored: ${list}); retention may have removed it`);
      }
      const src = await observeSource({ source: l.deps.source, limits: l.deps.limits, bundles: l.bundles, system: l.deps.system });
      await l.pins.set(service, { version: target, sourceVersion: src.sourceVersions.get(service) ?? null, breaking: opts.breaking ?? false, at: new Date().toISOString() });
      l.failedVersions.clear();
      l.log.info({ service, version: target }, "rollback pinned");
      l.registrar.pinned();
      return l.pass("rollback");
    }) as Promise<ReconcileResult>;
  }

  /**
   * Pauses the invocations still pinned to a version's deployments and resumes them on the latest
   * deployment. An explicit operator choice: Restate may fail an invocation whose journal the new
   * code cannot replay.
   */
  async moveInvocations(service: string, version: string): Promise<Moved> {
    const l = this.#loop;
    const out = await (l.queue.add(async () => {
      const deployments = (l.last()?.deployments ?? []).filter((d) => d.service === service && d.version === version);
      const { moved, failed } = await moveToLatest(l.deps.admin, [...new Set(deployments.flatMap((d) => [...(d.blocking ?? [])]))].map((id) => ({ id })));
      l.log.info({ service, version, moved: moved.length, failed: failed.length }, "invocations moved to the latest deployment");
      return { moved, failed };
    }) as Promise<Moved>);
    void l.reconcile("move");
    return out;
  }

  /**
   * An operator's promote (the new version takes every new call now) or abort (the old version
   * does, as an automatic abort would) of a running rollout, applied by a pass.
   */
  async rollout(service: string, what: "promote" | "abort"): Promise<ReconcileResult> {
    const l = this.#loop;
    return l.queue.add(async () => {
      l.suspend.refuse(service, `rollout ${what}`);
      if (!l.rollouts.ask(service, what, l.last())) throw new GridironError("ROLLOUT_NONE", `"${service}" has no rollout in progress (no ramp serves its new calls)`, { service });
      return l.pass(`rollout-${what}`);
    }) as Promise<ReconcileResult>;
  }

  /**
   * `gridiron suspend [<service>]`: from the next pass on, Gridiron changes nothing of the service
   * (or of any service). Queued behind a running pass, so once it returns nothing more is applied.
   */
  async suspend(req: SuspendRequest): Promise<Suspended> {
    const l = this.#loop;
    return l.queue.add(() => l.suspend.suspend(req, l.status().services.map((s) => s.service))) as Promise<Suspended>;
  }

  /** `gridiron resume [<service>]`: lifts the suspension and runs a pass that applies what waited. */
  async resume(service: string | undefined): Promise<Resumed & { pass: ReconcileResult }> {
    const l = this.#loop;
    return l.queue.add(async () => {
      const resumed = await l.suspend.resume(service);
      l.failedVersions.clear();
      l.registrar.pinned();
      return { ...resumed, pass: await l.pass("resume") };
    }) as Promise<Resumed & { pass: ReconcileResult }>;
  }
}
