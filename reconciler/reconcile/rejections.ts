// One rule for counting what Gridiron refuses. A rejection is a bundle the source holds that
// cannot be read (a manifest typo, a bad name: BUNDLE_INVALID) or a version refused before it
// could serve (it does not load, a breaking change, a Restate service another bundle owns).
//
// - Every pass in which a rejection is present reports it among its errors, so its outcome is
//   `error` (or `partial` when it also changed something) for as long as the source holds it: the
//   desired state is not reached, whichever pass looks.
// - It is counted once, in the pass where it appears (gridiron_reconcile_errors_total{code}): a
//   broken bundle seen again by every resync is the same rejection, marked `repeated`. It counts
//   again only after it left the source and came back, or as a different rejection (another
//   version, another code, for a bundle that cannot be read another reason).
// - It leaves status with the source: a remembered refusal of a version the source no longer asks
//   for is forgotten (forgotten()).
// Pure, so each rule is a row in test/reconcile/rejections.test.ts.
import type { GridironError } from "../core/errors.ts";
import { keyOf } from "../source/names.ts";
import type { Gate } from "./gate.ts";
import type { Observation } from "./observe.ts";

export interface Rejection {
  service: string;
  /** Absent for a bundle that could not be read into a version. */
  version?: string;
  error: GridironError;
}

/** What makes two rejections the same one, seen by two passes. */
export function rejectionKey(r: Rejection): string {
  // A version is content-addressed; a bundle that cannot be read has only its reason to tell one
  // breakage from the next.
  return r.version !== undefined ? `${r.service}/${r.version}\0${r.error.code}` : `${r.service}\0${r.error.code}\0${r.error.message}`;
}

/**
 * Every rejection present in a pass, once each: the source's unreadable bundles, the versions the
 * gate refused now, and desired versions refused by an earlier pass (`failed`, by version key).
 */
export function rejectionsOf(o: Pick<Observation, "errors" | "desired">, g: Pick<Gate, "refused">, failed: ReadonlyMap<string, GridironError>): Rejection[] {
  const out = new Map<string, Rejection>();
  const add = (r: Rejection) => {
    const key = rejectionKey(r);
    if (!out.has(key)) out.set(key, r);
  };
  for (const [service, error] of o.errors) add({ service, error });
  for (const r of g.refused) add({ service: r.service, version: r.version, error: r.error });
  for (const c of o.desired.values()) {
    const error = failed.get(keyOf(c.spec));
    if (error) add({ service: c.spec.service, version: c.spec.version, error });
  }
  return [...out.values()].sort((a, b) => (rejectionKey(a) < rejectionKey(b) ? -1 : 1));
}

/**
 * Which of this pass's rejections were already present in the last one (`seen`: its keys). The
 * returned keys replace `seen`: a rejection absent from one pass counts again when it returns.
 */
export function countOnce(seen: ReadonlySet<string>, present: readonly Rejection[]): { rejections: (Rejection & { repeated: boolean })[]; seen: Set<string> } {
  const keys = new Set(present.map(rejectionKey));
  return { rejections: present.map((r) => ({ ...r, repeated: seen.has(rejectionKey(r)) })), seen: keys };
}

/** Keys of remembered refusals whose version the source (with its pins) no longer asks for. */
export function forgotten(failed: ReadonlyMap<string, unknown>, o: Pick<Observation, "desired">): string[] {
  const desired = new Set([...o.desired.values()].map((c) => keyOf(c.spec)));
  return [...failed.keys()].filter((key) => !desired.has(key));
}
