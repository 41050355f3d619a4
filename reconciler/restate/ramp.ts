// A ramp: one Restate deployment whose URI names two versions of a service and a weight, so the
// router (workerd/router.js) sends each invocation to one of them by a hash of its invocation id.
// Restate pins an invocation to the deployment of its first attempt and sends every retry with the
// same id (header x-restate-invocation-id), so an invocation runs all its attempts on one version.
// The URI is the whole state of a ramp step: old, new and weight are read back from Restate's
// registry after a restart, and the deployment's creation time is when the step began.
//
// Path: /<service>/ramp~<old>~<new>~<weight>/. Versions use [a-z0-9.-] only, so "~" cannot occur
// in them. The same hash is in router.js (kept identical by test/workerd/router-ramp.test.ts).
import { isVersionId } from "../source/names.ts";

export interface Ramp {
  /** The version that served before the rollout. */
  from: string;
  /** The version being rolled out (the ramp's /discover answers its manifest). */
  to: string;
  /** Percent of new invocations the new version gets, 1..99. */
  weight: number;
}

export const rampSegment = (r: Ramp): string => `ramp~${r.from}~${r.to}~${r.weight}`;

export function parseRampSegment(segment: string): Ramp | null {
  const m = /^ramp~([^~]+)~([^~]+)~(\d{1,2})$/.exec(segment);
  if (!m || !isVersionId(m[1]!) || !isVersionId(m[2]!) || m[1] === m[2]) return null;
  const weight = Number(m[3]);
  return weight >= 1 && weight <= 99 ? { from: m[1]!, to: m[2]!, weight } : null;
}

/** 0..99: FNV-1a (32 bit) of the invocation id, modulo 100. */
export function rampBucket(invocationId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < invocationId.length; i++) h = Math.imul(h ^ invocationId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % 100;
}

/** Which of the ramp's versions runs this invocation. */
export const rampPick = (r: Ramp, invocationId: string): string => (rampBucket(invocationId) < r.weight ? r.to : r.from);
