// Which invocations were in a workerd process when it hung, outgrew its memory or crashed, read
// from Restate's introspection (`sys_invocation` on POST /query). An attempt's deployment is in
// `last_attempt_deployment_id` while Restate works on it (`pinned_deployment_id` stays empty
// until the SDK has answered once, which a handler that spins from its first line never does).
// The SQL builders and the row parser are pure (test/restate/in-flight.test.ts).
import type { RestateAdmin } from "./admin.ts";
import { isInvocationId, sqlString } from "./trouble.ts";

export interface InFlightInvocation {
  id: string;
  /** running: an attempt is under way; backing-off: the last one failed, the next is scheduled. */
  status: string;
  restateService: string;
  handler: string;
  key?: string;
  /** `<Service>/<handler>`, or `<Object>/<key>/<handler>`. */
  target: string;
  deploymentId: string;
  /** When its last attempt started (ms since the epoch). */
  startedAt?: number;
}

const COLUMNS = "id, status, target_service_name, target_service_key, target_handler_name, pinned_deployment_id, last_attempt_deployment_id, last_start_at";

/** Running or backing-off invocations whose attempt ran on one of `deploymentIds`. */
export function inFlightQuery(deploymentIds: readonly string[]): string | undefined {
  const ids = deploymentIds.filter((d) => /^dp_[0-9A-Za-z]+$/.test(d));
  if (ids.length === 0) return undefined;
  const list = ids.map(sqlString).join(", ");
  return `SELECT ${COLUMNS} FROM sys_invocation WHERE status IN ('running', 'backing-off') AND (last_attempt_deployment_id IN (${list}) OR pinned_deployment_id IN (${list}))`;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * One entry per invocation whose deployment is among `deploymentIds`. With `startedSince`, only
 * those whose last attempt started then or later: an invocation backing off since an earlier
 * failure was not in the process that just died.
 */
export function parseInFlightRows(rows: readonly Record<string, unknown>[], deploymentIds: readonly string[], startedSince?: number): InFlightInvocation[] {
  const ours = new Set(deploymentIds);
  const out = new Map<string, InFlightInvocation>();
  for (const r of rows) {
    const id = str(r.id);
    const status = str(r.status);
    const service = str(r.target_service_name);
    const handler = str(r.target_handler_name);
    const deploymentId = [str(r.last_attempt_deployment_id), str(r.pinned_deployment_id)].find((d) => d !== undefined && ours.has(d));
    if (!id || !status || !service || !handler || !deploymentId || out.has(id)) continue;
    const startedAt = str(r.last_start_at) ? Date.parse(r.last_start_at as string) : undefined;
    if (startedSince !== undefined && startedAt !== undefined && Number.isFinite(startedAt) && startedAt < startedSince) continue;
    const key = typeof r.target_service_key === "string" ? r.target_service_key : undefined;
    out.set(id, {
      id,
      status,
      restateService: service,
      handler,
      ...(key !== undefined ? { key } : {}),
      target: key === undefined ? `${service}/${handler}` : `${service}/${key}/${handler}`,
      deploymentId,
      ...(startedAt !== undefined && Number.isFinite(startedAt) ? { startedAt } : {}),
    });
  }
  return [...out.values()];
}

/** The invocations in flight on `deploymentIds` (see parseInFlightRows for `startedSince`). */
export async function queryInFlight(admin: Pick<RestateAdmin, "query">, deploymentIds: readonly string[], startedSince?: number): Promise<InFlightInvocation[]> {
  const sql = inFlightQuery(deploymentIds);
  if (!sql) return [];
  return parseInFlightRows(await admin.query(sql), deploymentIds, startedSince);
}

/** Of `ids`, those Restate still holds paused. */
export function pausedQuery(ids: readonly string[]): string | undefined {
  const valid = ids.filter(isInvocationId);
  if (valid.length === 0) return undefined;
  return `SELECT id, status FROM sys_invocation WHERE id IN (${valid.map(sqlString).join(", ")})`;
}

export async function queryStillPaused(admin: Pick<RestateAdmin, "query">, ids: readonly string[]): Promise<Set<string>> {
  const sql = pausedQuery(ids);
  if (!sql) return new Set();
  const rows = await admin.query(sql);
  return new Set(rows.filter((r) => r.status === "paused" && typeof r.id === "string").map((r) => r.id as string));
}
