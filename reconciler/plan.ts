// The reconcile decision, as a pure function of what is wanted and what is there. It does no I/O
// so that every case is a row in a table test (test/unit/plan.test.ts).

export interface VersionRef {
  service: string;
  version: string;
}

export interface DesiredVersion extends VersionRef {
  digest: string;
}

/** A deployment registered in Restate whose URI points into our workerd. */
export interface RegisteredVersion extends VersionRef {
  deploymentId: string;
  createdAt: string;
}

export interface Actual {
  /** Versions complete in the store. */
  stored: readonly VersionRef[];
  /** Versions in the workerd config that is serving now. */
  served: readonly VersionRef[];
  registered: readonly RegisteredVersion[];
}

export type Action =
  /** Materialise the bundle into the version store. */
  | { type: "store"; service: string; version: string }
  /** Add to workerd's config (validated on a scratch workerd first). */
  | { type: "serve"; service: string; version: string }
  /** Register with Restate, which makes it the version new calls reach. */
  | { type: "register"; service: string; version: string }
  /** Registered but no longer desired: stays served so in-flight work finishes on it. */
  | { type: "retire"; service: string; version: string; deploymentId: string }
  /** Registered in Restate but its bytes are gone from the store: it cannot be served. */
  | { type: "orphan"; service: string; version: string; deploymentId: string };

export interface Plan {
  actions: Action[];
  /** Every version the next workerd config must hold (sorted); equal to `served` when no swap is needed. */
  serve: VersionRef[];
  /** True when the workerd config must change. */
  swap: boolean;
}

export const keyOf = (v: VersionRef): string => `${v.service}/${v.version}`;

function sortRefs<T extends VersionRef>(refs: Iterable<T>): T[] {
  return [...refs].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
}

/**
 * `held` names services whose bundle is present in the source but failed to read or validate:
 * their registered versions are kept exactly as they are (serving, not retired), because bad
 * input must never take down what serves.
 */
export function plan(desired: readonly DesiredVersion[], actual: Actual, held: readonly string[] = []): Plan {
  const heldServices = new Set(held);
  const stored = new Set(actual.stored.map(keyOf));
  const served = new Set(actual.served.map(keyOf));
  const registered = new Map(actual.registered.map((r) => [keyOf(r), r]));
  const desiredKeys = new Set(desired.map(keyOf));
  const actions: Action[] = [];
  const serve = new Map<string, VersionRef>();

  for (const d of sortRefs(desired)) {
    const key = keyOf(d);
    const ref = { service: d.service, version: d.version };
    if (!stored.has(key)) actions.push({ type: "store", ...ref });
    if (!served.has(key)) actions.push({ type: "serve", ...ref });
    if (!registered.has(key)) actions.push({ type: "register", ...ref });
    serve.set(key, ref);
  }

  for (const r of sortRefs(actual.registered)) {
    const key = keyOf(r);
    if (desiredKeys.has(key)) continue;
    const ref = { service: r.service, version: r.version };
    if (!stored.has(key)) {
      if (heldServices.has(r.service)) continue;
      actions.push({ type: "orphan", ...ref, deploymentId: r.deploymentId });
      continue;
    }
    if (!heldServices.has(r.service)) actions.push({ type: "retire", ...ref, deploymentId: r.deploymentId });
    serve.set(key, ref);
  }

  const next = sortRefs(serve.values());
  const swap = next.length !== served.size || next.some((v) => !served.has(keyOf(v)));
  return { actions, serve: next, swap };
}
