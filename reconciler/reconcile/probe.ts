// Probe: the one effect the gate needs before it can judge, proving each version new to workerd
// on a scratch workerd (and, on one machine, Restate's dry-run registration). A version the
// bundle's fault refuses comes back as its error, for the gate to record; any other failure fails
// the pass.
import { join } from "node:path";
import { asGridironError, type GridironError } from "../core/errors.ts";
import { keyOf, type VersionRef } from "../source/names.ts";
import { validateVersion, type ValidateDeps } from "../workerd/validate.ts";
import type { ReconcilerDeps } from "./deps.ts";
import { toProbe, type Probe } from "./gate.ts";
import type { Observation } from "./observe.ts";

export async function probeNew(
  o: Observation,
  failed: ReadonlyMap<string, GridironError>,
  served: readonly VersionRef[],
  validate: ValidateDeps,
  suspended?: ReadonlySet<string>,
): Promise<Map<string, Probe>> {
  const probes = new Map<string, Probe>();
  for (const c of toProbe(o, failed, served, suspended)) {
    try {
      probes.set(keyOf(c.spec), await validateVersion(c, validate));
    } catch (err) {
      const e = asGridironError(err);
      if (e.kind !== "stalled") throw e;
      probes.set(keyOf(c.spec), e);
    }
  }
  return probes;
}

/** What validation needs. The scratch workerd logs under its own component: the root logger. */
export function validateDeps(d: ReconcilerDeps): ValidateDeps {
  return {
    logger: d.logger, timeoutMs: d.validateTimeoutMs, admin: d.admin, policy: d.workerdPolicy, signRequest: d.signRequest,
    scratchDir: join(d.dataDir, "workerd", "scratch"),
    // In a cluster Restate runs elsewhere and cannot reach a scratch workerd on this machine.
    restateDryRun: (d.role ?? "all") === "all",
  };
}
