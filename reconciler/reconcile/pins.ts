// Rollback pins laid over the source: `gridiron rollback` makes a stored version the desired one
// for a service until the source itself moves on. Pure, so each rule is a table row
// (test/reconcile/gate.test.ts).
import type { Pin } from "../store/pins.ts";
import type { StoredVersion } from "../store/versions.ts";

export interface PinDecisions {
  /** Pins still in force, with the stored version they make desired. */
  hold: { service: string; pin: Pin; stored: StoredVersion }[];
  /** Pins to release, with why (logged at `level`). */
  release: { service: string; pin: Pin; level: "info" | "warn"; reason: string }[];
}

/** A rollback pin holds until the source moves on (its version for the service changes). */
export function pinDecisions(pins: readonly [string, Pin][], sourceVersions: ReadonlyMap<string, string>, stored: readonly StoredVersion[]): PinDecisions {
  const out: PinDecisions = { hold: [], release: [] };
  for (const [service, pin] of pins) {
    if ((sourceVersions.get(service) ?? null) !== pin.sourceVersion) {
      out.release.push({ service, pin, level: "info", reason: "the source moved on: rollback pin released" });
      continue;
    }
    const s = stored.find((x) => x.spec.service === service && x.spec.version === pin.version);
    if (!s) {
      out.release.push({ service, pin, level: "warn", reason: "rollback pin names a version no longer stored: released" });
      continue;
    }
    out.hold.push({ service, pin, stored: s });
  }
  return out;
}
