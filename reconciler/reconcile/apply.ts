// Apply: a plan's effects, in their fixed order. Store what is new, serve it, register it with
// Restate; then, once the invocation query has answered, deregister what drained, serve without
// it, and drop from disk what retention lets go. Each step can be interrupted (the fault points
// are where the crash tests cut) and the next pass picks up from what is there: every effect is
// idempotent.
import type { Logger } from "pino";
import { GridironError, asGridironError } from "../core/errors.ts";
import { fault } from "../core/faults.ts";
import type { RestateAdmin } from "../restate/admin.ts";
import { deploymentUri, rampUri } from "../restate/deployments.ts";
import type { Ramp } from "../restate/ramp.ts";
import type { BundleSpec } from "../source/bundle.ts";
import { keyOf, type VersionRef } from "../source/names.ts";
import type { VersionStore } from "../store/versions.ts";
import type { ServedVersion } from "../workerd/build.ts";
import type { Cells } from "../workerd/cells.ts";
import { withBlocking, type Observation } from "./observe.ts";
import { placeVersions } from "./placement.ts";
import { rampCompanions, type Companion } from "./rollout.ts";
import type { Role } from "./deps.ts";
import type { Action, Plan } from "./plan.ts";
import type { ReconcileResult } from "./status.ts";

/**
 * Restate keeps HTTP/1.1 connections to a deployment alive and reuses them. When a workerd
 * generation is replaced it closes its idle connections, and a request Restate writes on one at
 * that moment fails ("connection closed before message completed") and is retried. With
 * `Connection: close` on every request nothing is pooled: each request opens a connection, which
 * only a live generation accepts (TCP_DEFER_ACCEPT hands it over with its request).
 */
export const DEPLOYMENT_HEADERS = { connection: "close" };

export interface ApplyDeps {
  store: VersionStore;
  admin: RestateAdmin;
  cells: Cells;
  /** Default "all". A node never touches Restate's registry; a registrar serves nothing. */
  role?: Role;
  /** Register without `Connection: close` (see DEPLOYMENT_HEADERS). */
  restateKeepAlive?: boolean;
}

export interface ApplyInput {
  observation: Observation;
  /** The gate's held services; a version that cannot be stored joins them. */
  held: ReadonlySet<string>;
  /** The invocation query the observation started, if any. */
  blocking?: Promise<ReadonlyMap<string, readonly string[]>>;
  /** The planner bound to this pass's options and drain timers. */
  plan: (o: Observation, held: ReadonlySet<string>) => Plan;
  /** The pass's record; effects append to its actions, deployed versions and errors. */
  result: ReconcileResult;
  log: Logger;
  /** A version that could not be stored (its service is held from then on). */
  onUnstored: (service: string, e: GridironError) => void;
  /** A version became the one new calls reach. */
  onDeployed: (v: VersionRef) => void;
  /**
   * Registrar: which services this pass may register, promote or deregister. Nothing while another
   * registrar holds the lock; before the lock service itself is registered, only that.
   */
  mayRegister?: (service: string) => boolean;
  /** A new version whose service has a rollout policy: the ramp to register instead (reconcile/rollouts.ts). */
  rampFor?: (o: Observation, a: VersionRef, cell: number, cellUrl: string, log: Logger, companions?: readonly Companion[]) => Promise<Ramp | undefined>;
}

export interface Applied {
  /** The observation with the pass's own writes to the store and the invocation answer in it. */
  observation: Observation;
  /** The plan the pass finished with (drain timers and status come from it). */
  plan: Plan;
  /** Something is draining: the next pass should come soon to see it end. */
  draining: boolean;
  /** How many deployments were deregistered. */
  removed: number;
  /** The gate's held services, with any whose version could not be stored. */
  held: ReadonlySet<string>;
  /** Registrar: versions not registered yet because not every node serves them. */
  waiting: string[];
}

export async function applyPlan(d: ApplyDeps, input: ApplyInput): Promise<Applied> {
  const { result, log } = input;
  let o = input.observation;
  const held = new Set(input.held);
  let p = input.plan(o, held);

  // Store from the bytes the pass holds; a version that cannot be stored (disk full, read-only)
  // cannot go live, and nothing that serves changes for its service.
  const stored = [...o.stored];
  let unstored = false;
  for (const a of p.actions) {
    if (a.type !== "store") continue;
    const c = o.desired.get(a.service)!;
    try {
      const { created, stored: s } = await d.store.put({ spec: c.spec, files: c.files as Map<string, Uint8Array> });
      fault("after-store");
      log.info({ service: a.service, version: a.version, created }, "version stored");
      result.actions.push(a);
      stored.push(s);
    } catch (err) {
      const e = asGridironError(err);
      log.error({ service: a.service, version: a.version, err: e.toJSON() }, "version could not be stored; the serving version is untouched");
      input.onUnstored(a.service, e);
      result.errors.push(e.toJSON());
      held.add(a.service);
      unstored = true;
    }
  }
  o = Object.freeze({ ...o, stored });
  if (unstored) p = input.plan(o, held);

  // Serve new versions before registering them, and keep removed ones until deregistered. Until
  // the invocation query answers, every registered version counts as maybe needed: this plan's
  // serve set and removals together hold all of them.
  const maybeRemoved = p.actions.filter((a) => a.type === "remove");
  const before = new Map([...p.serve, ...maybeRemoved].map((v) => [keyOf(v), { service: v.service, version: v.version }]));
  const role = d.role ?? "all";
  const registry = role !== "node";
  const may = (service: string) => registry && (input.mayRegister?.(service) ?? true);
  // A ramp needs both its versions behind one router: a service with a rollout policy takes no lane.
  const lanes = { count: d.cells.lanes, laneable: (service: string) => !o.desired.get(service)?.spec.rollout };
  const placed = placeVersions([...before.values()], o.deployments, d.cells.servedIn(), d.cells.firstLane, role === "all" ? "spread" : "hash", lanes);
  // A ramp whose old version lives on a lane gets it served in the ramp's cell too.
  const starting = p.actions.filter((a) => a.type === "register" && may(a.service) && o.desired.get(a.service)?.spec.rollout).map((a) => ({ service: a.service, cell: placed.get(keyOf(a)) ?? 0 }));
  const companions = rampCompanions(o.deployments, starting, d.cells.firstLane);
  await d.cells.apply([...before.values()], placed, candidatesOf(o), log, companions);
  if (d.cells.local) for (const a of p.actions) if (a.type === "serve") result.actions.push(a);

  // A registrar registers a version only once every node serves it, in the cell they serve it in.
  const waiting: string[] = [];
  const nodesServe = d.cells.local ? undefined : d.cells.servedIn();
  for (const a of p.actions) {
    if (!may(a.service) || (a.type !== "register" && a.type !== "promote")) continue;
    if (nodesServe && !nodesServe.has(keyOf(a))) {
      waiting.push(keyOf(a));
      continue;
    }
    if (nodesServe) placed.set(keyOf(a), nodesServe.get(keyOf(a))!);
    fault("before-register");
    const cell = placed.get(keyOf(a)) ?? 0;
    const ramp = a.type === "register" ? await input.rampFor?.(o, a, cell, d.cells.urls[cell]!, log, companions) : undefined;
    await register(d, d.cells.urls[cell]!, a, o.desired.get(a.service)!.spec, o.revision, log, ramp);
    fault("after-register");
    result.actions.push(a);
    result.deployed.push({ service: a.service, version: a.version });
    input.onDeployed(a);
  }

  // Draining and removing need what still needs each deployment. That query scans every
  // invocation Restate retains, so it ran while this pass deployed: how soon a new version
  // answers does not depend on how many calls Restate remembers. The plan is made once more with
  // its answer; deploy decisions do not depend on it, and those above are done.
  if (input.blocking) {
    o = withBlocking(o, await input.blocking);
    p = input.plan(o, held);
  }
  let draining = false;
  const removals = p.actions.filter((a): a is Extract<Action, { type: "remove" }> => a.type === "remove");
  for (const a of p.actions) {
    if (a.type === "drain") {
      draining = true;
      if (a.stuck) {
        result.errors.push(new GridironError("VERSION_STUCK", `${a.service}/${a.version} is past its drain deadline; still needed by ${a.blocking} invocation(s): ${a.invocations.join(", ")}`, { service: a.service, version: a.version }).toJSON());
      }
    } else if (a.type === "orphan") {
      result.errors.push(new GridironError("VERSION_UNSERVABLE", `${a.service}/${a.version} is registered in Restate (${a.deploymentId}) but missing from the version store; it cannot be served`, { service: a.service, version: a.version, deploymentId: a.deploymentId }).toJSON());
      result.actions.push(a);
    }
  }
  // A service whose new version waits for the nodes keeps what Restate sends its calls to: nothing
  // of it is removed until its new version is registered.
  const waitingServices = new Set(waiting.map((k) => k.slice(0, k.indexOf("/"))));
  for (const a of removals.filter((r) => may(r.service) && !waitingServices.has(r.service))) {
    fault("before-deregister");
    await d.admin.deregister(a.deploymentId);
    fault("after-deregister");
    log.info({ service: a.service, version: a.version, deploymentId: a.deploymentId }, "drained version deregistered");
    result.actions.push(a);
  }
  // A node drops a version only once the registrar has deregistered it.
  const registered = new Set(o.deployments.map(keyOf));
  const keep = registry ? p.serve : [...before.values()].filter((v) => p.serve.some((s) => keyOf(s) === keyOf(v)) || registered.has(keyOf(v)));
  await d.cells.apply(keep, placed, candidatesOf(o), log, companions.filter((c) => keep.some((k) => keyOf(k) === keyOf(c.ref))));
  for (const a of p.actions) {
    if (a.type !== "gc" || (!registry && registered.has(keyOf(a)))) continue;
    await d.store.remove(a.service, a.version);
    log.info({ service: a.service, version: a.version }, "version removed from disk (retention)");
    result.actions.push(a);
  }
  return { observation: o, plan: p, draining, removed: registry ? removals.length : 0, held, waiting };
}

async function register(d: ApplyDeps, cellUrl: string, a: VersionRef & { type: "register" | "promote" }, spec: BundleSpec, revision: string, log: Logger, ramp?: Ramp): Promise<void> {
  // A promote registers a version that Restate still knows under its old URI: Restate does not
  // make a re-registered URI latest again, so it gets a fresh tag (see restate/deployments.ts).
  const tag = a.type === "promote" ? `r${Date.now().toString(36)}` : undefined;
  const res = await d.admin.register({
    uri: ramp ? rampUri(cellUrl, a.service, ramp) : deploymentUri(cellUrl, a.service, a.version, tag),
    force: false,
    breaking: spec.breaking,
    headers: d.restateKeepAlive ? undefined : DEPLOYMENT_HEADERS,
    metadata: { "gridiron.service": a.service, "gridiron.version": a.version, "gridiron.digest": spec.digest, "gridiron.revision": revision },
  });
  if (ramp) log.info({ service: a.service, version: a.version, from: ramp.from, weight: ramp.weight, deploymentId: res.id }, "rollout started: a ramp sends the new version its first share of new calls");
  else log.info({ service: a.service, version: a.version, deploymentId: res.id, restateServices: res.services.map((s) => s.name), promoted: a.type === "promote" }, "version registered: new calls reach it");
}

/** The versions a pass holds bytes for, by "<service>/<version>". */
function candidatesOf(o: Observation): Map<string, ServedVersion> {
  return new Map([...o.desired.values()].map((c) => [keyOf(c.spec), c]));
}
