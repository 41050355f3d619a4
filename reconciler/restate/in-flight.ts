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
  const statuses = await invocationStatuses(admin, ids);
  return new Set([...statuses].filter(([, status]) => status === "paused").map(([id]) => id));
}

/** Each invocation's status as `sys_invocation` reports it (running, backing-off, suspended, paused, …). */
export async function invocationStatuses(admin: Pick<RestateAdmin, "query">, ids: readonly string[]): Promise<Map<string, string>> {
  const sql = pausedQuery(ids);
  if (!sql) return new Map();
  const rows = await admin.query(sql);
  return new Map(rows.filter((r) => typeof r.id === "string").map((r) => [r.id as string, String(r.status)]));
}

/**
 * Moves invocations onto the latest deployment (`gridiron move`, a rollout's abort): pauses each,
 * waits until Restate reports it paused (a backing-off invocation is not paused the moment pause
 * returns, and resuming it then does nothing), then resumes it on the latest deployment. One that
 * never shows as paused within `waitMs` (a suspended invocation stays suspended until it wakes) is
 * resumed anyway. Restate changes only a pinned invocation's deployment; one not pinned yet is
 * resumed as it is and starts on the latest one anyway. Each on its own: one that cannot be moved
 * is reported, the others still move.
 */
export async function moveToLatest(
  admin: Pick<RestateAdmin, "query" | "pauseInvocation" | "resumeInvocation">,
  invocations: readonly { id: string; pinned?: boolean }[],
  waitMs = 5000,
): Promise<{ moved: string[]; failed: { id: string; error: string }[] }> {
  const failed: { id: string; error: string }[] = [];
  const moved: string[] = [];
  const waiting = new Map<string, { id: string; pinned?: boolean }>();
  const resume = async (i: { id: string; pinned?: boolean }) => {
    try {
      await admin.resumeInvocation(i.id, i.pinned === false ? undefined : "latest");
      moved.push(i.id);
    } catch (err) {
      failed.push({ id: i.id, error: (err as Error).message });
    }
  };
  // Only an invocation that is running or backing off needs the wait; a suspended or scheduled
  // one takes the resume at once.
  const statuses = await invocationStatuses(admin, invocations.map((i) => i.id)).catch(() => new Map<string, string>());
  for (const i of invocations) {
    try {
      await admin.pauseInvocation(i.id);
    } catch (err) {
      failed.push({ id: i.id, error: (err as Error).message });
      continue;
    }
    const s = statuses.get(i.id);
    if (s === "running" || s === "backing-off") waiting.set(i.id, i);
    else await resume(i);
  }
  const deadline = Date.now() + waitMs;
  while (waiting.size > 0 && Date.now() <= deadline) {
    for (const id of await queryStillPaused(admin, [...waiting.keys()])) {
      await resume(waiting.get(id)!);
      waiting.delete(id);
    }
    if (waiting.size > 0) await new Promise((r) => setTimeout(r, 100));
  }
  for (const i of waiting.values()) await resume(i);
  return { moved, failed };
}
