// Observe: what the source asks for and what Restate and the store hold, read once at the start of
// a pass and then frozen. Everything a pass decides is decided from one Observation, so the gate
// and the planner never see a world that changes under them.
import type { Logger } from "pino";
import type { RestateAdmin, RestateService } from "../restate/admin.ts";
import { ourDeployments, type OurDeployment } from "../restate/deployments.ts";
import { DRAIN_QUERY, blockingInvocations, parseInvocationRows } from "../restate/invocations.ts";
import { DEFAULT_LIMITS, type Bundle, type BundleCache, type BundleLimits } from "../source/bundle.ts";
import { bundleError, type GridironError } from "../core/errors.ts";
import { readDesired } from "../source/desired.ts";
import type { Source } from "../source/source.ts";
import type { PinStore } from "../store/pins.ts";
import type { StoredVersion, VersionStore } from "../store/versions.ts";
import type { ServedVersion } from "../workerd/build.ts";
import { pinDecisions } from "./pins.ts";
import type { RegisteredVersion } from "./plan.ts";

/** A deployment of ours with what the pass learned about it (latest for, still needed by). */
export type ObservedDeployment = OurDeployment & RegisteredVersion;

/** A desired version with its bytes: from the source, or from the store for a rollback pin. */
export type Candidate = ServedVersion;

/** The part of the world a pass's own effects change: read again after it registers or removes. */
export interface Actual {
  readonly deployments: readonly ObservedDeployment[];
  /** Restate's services as they are now (handlers, latest deployment). */
  readonly catalog: readonly RestateService[];
  readonly stored: readonly StoredVersion[];
}

export interface Observation extends Actual {
  readonly revision: string;
  /** What the pass should serve per service: the source's bundles with rollback pins laid over. */
  readonly desired: ReadonlyMap<string, Candidate>;
  /** What the source alone asks for, per service (before rollback pins). */
  readonly sourceVersions: ReadonlyMap<string, string>;
  /** Bundles present in the source but unreadable or invalid, by service (pinned ones excluded). */
  readonly errors: ReadonlyMap<string, GridironError>;
  /** The source holds no bundle at all, valid or not. */
  readonly empty: boolean;
  /** The source carries the explicit opt-in that "no bundles" means "remove everything". */
  readonly allowEmpty: boolean;
}

export interface ObserveDeps {
  source: Source;
  admin: RestateAdmin;
  store: VersionStore;
  pins: PinStore;
  /** Base URL of each cell: a deployment is ours when its URI is under one of them. */
  cellUrls: readonly string[];
  limits?: BundleLimits;
  bundles: BundleCache;
  /** Bundles Gridiron itself needs served (a cluster's registrar lock), beside the source's. */
  system?: readonly Bundle[];
}

/**
 * Reads the source and what Restate and the store hold. Rollback pins are laid over the source:
 * a pin the source has moved past (or whose version left the store) is released here, the one
 * write observing makes, so the pass and `gridiron plan` see the same desired state.
 * With `queryInvocations`, the query for what still needs each deployment is started (not
 * awaited): its answer comes as `blocking`, see `withBlocking`.
 */
export async function observe(
  d: ObserveDeps,
  log: Logger,
  opts: { queryInvocations: boolean },
): Promise<{ observation: Observation; blocking?: Promise<Map<string, string[]>> }> {
  const src = await observeSource(d);
  const desired = new Map(src.desired);
  const { sourceVersions } = src;
  const errors = new Map(src.errors);
  const actual = await observeActual(d, opts.queryInvocations ? sourceVersions : null);

  await d.pins.load();
  const pins = pinDecisions(d.pins.entries(), sourceVersions, actual.stored);
  for (const r of pins.release) {
    log[r.level]({ service: r.service, pinned: r.pin.version, source: sourceVersions.get(r.service) ?? null }, r.reason);
    await d.pins.delete(r.service);
  }
  for (const { service, pin, stored } of pins.hold) {
    errors.delete(service);
    desired.set(service, { spec: { ...stored.spec, breaking: stored.spec.breaking || pin.breaking }, files: await d.store.files(stored) });
  }
  const observation: Observation = Object.freeze({
    revision: src.revision,
    desired,
    sourceVersions,
    errors,
    empty: src.empty,
    allowEmpty: src.allowEmpty,
    deployments: actual.deployments,
    catalog: actual.catalog,
    stored: actual.stored,
  });
  return { observation, ...(actual.blocking ? { blocking: actual.blocking } : {}) };
}

/** What the source asks for, without rollback pins. */
export async function observeSource(d: Pick<ObserveDeps, "source" | "limits" | "bundles" | "system">): Promise<Omit<Observation, keyof Actual>> {
  const artifact = await d.source.fetch();
  const read = await readDesired(artifact.dir, d.limits ?? DEFAULT_LIMITS, d.bundles);
  const system = d.system ?? [];
  const errors = new Map(read.errors);
  for (const b of read.bundles) {
    if (system.some((s) => s.spec.service === b.spec.service)) errors.set(b.spec.service, bundleError(b.spec.service, "this name is reserved for a bundle Gridiron serves itself; rename the bundle"));
  }
  const bundles = [...read.bundles.filter((b) => !errors.has(b.spec.service)), ...system];
  return {
    revision: artifact.revision,
    desired: new Map(bundles.map((b) => [b.spec.service, { spec: b.spec, files: b.files }])),
    sourceVersions: new Map(bundles.map((b) => [b.spec.service, b.spec.version])),
    errors,
    // Gridiron's own bundles do not make an empty source look full.
    empty: read.empty,
    allowEmpty: read.allowEmpty,
  };
}

/**
 * What Restate and the store hold now. `desired` (service → version the source asks for) decides
 * whether Restate's invocations are queried for what still needs each deployment; null skips it.
 */
export async function observeActual(
  d: Pick<ObserveDeps, "admin" | "store" | "cellUrls">,
  desired: ReadonlyMap<string, string> | null,
): Promise<Actual & { blocking?: Promise<Map<string, string[]>> }> {
  const [rawDeployments, catalog, stored] = await Promise.all([d.admin.listDeployments(), d.admin.services(), d.store.list()]);
  const latest = new Map(catalog.map((s) => [s.name, s.deploymentId]));
  const latestFor = new Map<string, string[]>();
  for (const [svc, id] of latest) latestFor.set(id, [...(latestFor.get(id) ?? []), svc]);
  const ours = ourDeployments(d.cellUrls, rawDeployments);
  // Which invocations still need a deployment matters only for one that may be on its way out:
  // not latest for any service, or not what the source asks for (replaced, removed, pinned).
  // Restate retains completed invocations and the query scans them all, so a pass where every
  // deployment of ours is latest and desired does not ask.
  const needed = desired !== null && ours.some((o) => !latestFor.has(o.deploymentId) || desired.get(o.service) !== o.version);
  const deployments = ours.map((o) => ({ ...o, latestFor: latestFor.get(o.deploymentId) ?? [], blocking: [] }));
  if (!needed) return { deployments, catalog, stored };
  const blocking = d.admin.query(DRAIN_QUERY).then((rows) => blockingInvocations(parseInvocationRows(rows), latest));
  // Awaited later in the pass (or never, if the pass fails first): not an unhandled rejection.
  blocking.catch(() => undefined);
  return { deployments, catalog, stored, blocking };
}

/** The observation with the invocation query's answer in `deployments[].blocking`. */
export function withBlocking(o: Observation, blocking: ReadonlyMap<string, readonly string[]>): Observation {
  return Object.freeze({ ...o, deployments: o.deployments.map((d) => ({ ...d, blocking: blocking.get(d.deploymentId) ?? [] })) });
}

/**
 * After a pass that registered or removed something: the observation with what Restate and the
 * store hold now. Each deployment's waiting invocations are carried over from the pass's own
 * query (by deployment id) instead of scanning Restate's invocations a second time.
 */
export async function refreshed(d: Pick<ObserveDeps, "admin" | "store" | "cellUrls">, o: Observation): Promise<Observation> {
  const now = await observeActual(d, null);
  const known = new Map(o.deployments.map((x) => [x.deploymentId, x.blocking]));
  return Object.freeze({
    ...o,
    catalog: now.catalog,
    stored: now.stored,
    deployments: now.deployments.map((x) => ({ ...x, blocking: known.get(x.deploymentId) ?? [] })),
  });
}
