// What a rollout step is judged on: Restate's own record of the invocations each ramp deployment
// received (`sys_invocation` on POST /query), split between the ramp's two versions by the same
// hash the router uses (ramp.ts). A ramp deployment is registered per step, so the invocations
// pinned to it are exactly those the step started: the step's window is the deployment itself,
// and the old version's share of the same deployment is the comparison in that window.
// The SQL builder and the tally are pure (test/restate/rollout-stats.test.ts).
import type { RestateAdmin } from "./admin.ts";
import { rampPick, type Ramp } from "./ramp.ts";
import { sqlString } from "./trouble.ts";

export interface RolloutCounts {
  /** Invocations Restate started on this version in the window (every one below is also here). */
  started: number;
  /** Completed with a result. */
  completed: number;
  /** Completed with a terminal error. */
  failed: number;
  /** Failed at least once and being tried again. */
  retrying: number;
  /** Paused: the retry policy ran out (or someone paused it). */
  paused: number;
}

export const ZERO_COUNTS: Readonly<RolloutCounts> = Object.freeze({ started: 0, completed: 0, failed: 0, retrying: 0, paused: 0 });

/** One open or finished invocation of a ramp, with which of its versions runs it. */
export interface RampInvocation {
  id: string;
  deploymentId: string;
  version: string;
  status: string;
  /** retrying or paused: what an abort moves onto the old version. */
  troubled: boolean;
  /**
   * Pinned to its deployment (its journal has an entry the SDK wrote). One that is not runs its
   * next attempt on whatever deployment is latest then, without being moved.
   */
  pinned: boolean;
}

const COLUMNS = "id, status, completion_result, retry_count, last_failure_error_code, pinned_deployment_id, last_attempt_deployment_id";

/** Every invocation Restate holds (open, or completed and still retained) that ran on `deploymentIds`. */
export function rampQuery(deploymentIds: readonly string[]): string | undefined {
  const ids = deploymentIds.filter((d) => /^dp_[0-9A-Za-z]+$/.test(d));
  if (ids.length === 0) return undefined;
  const list = ids.map(sqlString).join(", ");
  return `SELECT ${COLUMNS} FROM sys_invocation WHERE pinned_deployment_id IN (${list}) OR last_attempt_deployment_id IN (${list})`;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** Rows → each invocation on a ramp with its version; rows of other deployments are skipped. */
export function rampInvocations(rows: readonly Record<string, unknown>[], ramps: ReadonlyMap<string, Ramp>): RampInvocation[] {
  const out = new Map<string, RampInvocation>();
  for (const r of rows) {
    const id = str(r.id);
    // A completed invocation that ended in a terminal error is counted as "failed".
    const status = r.status === "completed" && r.completion_result === "failure" ? "failed" : str(r.status);
    const deploymentId = str(r.pinned_deployment_id) ?? str(r.last_attempt_deployment_id);
    const ramp = deploymentId ? ramps.get(deploymentId) : undefined;
    if (!id || !status || !ramp || out.has(id)) continue;
    const failedOnce = str(r.last_failure_error_code) !== undefined || Number(r.retry_count ?? 0) > 1;
    const troubled = status === "paused" || (status !== "completed" && status !== "failed" && failedOnce);
    out.set(id, { id, deploymentId: deploymentId!, version: rampPick(ramp, id), status, troubled, pinned: str(r.pinned_deployment_id) !== undefined });
  }
  return [...out.values()];
}

/** Counts per version of the invocations of one ramp deployment. */
export function tally(invocations: readonly RampInvocation[], deploymentId: string, ramp: Ramp): { old: RolloutCounts; new: RolloutCounts } {
  const old = { ...ZERO_COUNTS };
  const neu = { ...ZERO_COUNTS };
  for (const inv of invocations) {
    if (inv.deploymentId !== deploymentId) continue;
    const c = inv.version === ramp.to ? neu : old;
    c.started++;
    if (inv.status === "paused") c.paused++;
    else if (inv.status === "failed") c.failed++;
    else if (inv.troubled) c.retrying++;
    else if (inv.status === "completed") c.completed++;
  }
  return { old, new: neu };
}

/** The invocations of the ramps in `ramps` (deployment id → ramp). */
export async function queryRamps(admin: Pick<RestateAdmin, "query">, ramps: ReadonlyMap<string, Ramp>): Promise<RampInvocation[]> {
  const sql = rampQuery([...ramps.keys()]);
  if (!sql) return [];
  return rampInvocations(await admin.query(sql), ramps);
}
