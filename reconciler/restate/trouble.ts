// Invocations in trouble, read from Restate's own introspection (`sys_invocation` on POST /query):
// those that failed and are being retried, those Restate paused (after its last retry, or by
// hand), and those that still need a replaced version. Restate is the record; nothing here is
// remembered between queries. The SQL builders and the row parser are pure (test/restate/trouble.test.ts).
import type { RestateAdmin } from "./admin.ts";

export type TroubleState =
  /** Failed at least once; Restate tries again (backing off, or running the next attempt). */
  | "retrying"
  /** Stopped by Restate (its retry policy ran out) or by hand: waits for a resume or a kill. */
  | "paused"
  /** Not failing, but keeps a replaced version from being removed. */
  | "blocking";

export interface InvocationInTrouble {
  id: string;
  state: TroubleState;
  /** Restate's status: backing-off, running, paused, suspended, … */
  status: string;
  /** `<Service>/<handler>`, or `<Object>/<key>/<handler>` for virtual objects and workflows. */
  target: string;
  restateService: string;
  handler: string;
  key?: string;
  /** The deployment it is pinned to, else the one its last attempt ran on. */
  deploymentId?: string;
  /** Attempts so far (Restate's retry_count counts the first one too). */
  attempts?: number;
  nextRetryAt?: string;
  lastError?: InvocationError;
  createdAt?: string;
  /** Commands that end or unblock it, the usual one first (filled in by the status view). */
  resolve?: string[];
}

export interface InvocationError {
  /** The thrown message, without Restate's `[500 Internal]` prefix. */
  message: string;
  /** Restate's error code, e.g. RT0007 (a handler threw). */
  code?: string;
  /** The stack the SDK reported, when there is one. */
  stack?: string;
  /** The journal entry the failure belongs to, e.g. `Run charge-card`. */
  entry?: string;
}

/** At most this many rows per query: status lists what needs a human, not every open invocation. */
export const TROUBLE_LIMIT = 200;

const COLUMNS = [
  "id", "status", "target_service_name", "target_service_key", "target_handler_name",
  "retry_count", "next_retry_at", "pinned_deployment_id", "last_attempt_deployment_id",
  "last_failure", "last_failure_error_code", "last_failure_related_command_name", "last_failure_related_command_type",
  "last_failure_related_entry_name", "last_failure_related_entry_type", "created_at",
].join(", ");

/** A SQL string literal; Restate service names and keys are user input. */
export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

const INVOCATION_ID = /^inv_[0-9A-Za-z]+$/;

export function isInvocationId(s: string): boolean {
  return INVOCATION_ID.test(s);
}

/**
 * Invocations of `services` (Restate service names) that are retrying or paused, plus the open
 * invocations named in `blockingIds`. Undefined when there is nothing to ask about.
 */
export function troubleQuery(services: readonly string[], blockingIds: readonly string[] = []): string | undefined {
  const ids = blockingIds.filter(isInvocationId);
  const parts: string[] = [];
  if (services.length > 0) {
    parts.push(`(target_service_name IN (${services.map(sqlString).join(", ")}) AND (status = 'paused' OR (last_failure IS NOT NULL AND status IN ('backing-off', 'running', 'ready', 'pending'))))`);
  }
  if (ids.length > 0) parts.push(`(id IN (${ids.map(sqlString).join(", ")}) AND status != 'completed')`);
  if (parts.length === 0) return undefined;
  return `SELECT ${COLUMNS} FROM sys_invocation WHERE ${parts.join(" OR ")} ORDER BY created_at LIMIT ${TROUBLE_LIMIT}`;
}

/** How `gridiron call` finds the invocation it started. */
export type InvocationMatch =
  | { id: string }
  | { service: string; handler: string; key?: string; idempotencyKey: string }
  /** A workflow's run is unique per key (Restate refuses idempotency keys there). */
  | { service: string; handler: string; key: string; workflow: true };

export function matchQuery(m: InvocationMatch): string {
  const where = "id" in m
    ? [`id = ${sqlString(m.id)}`]
    : [
      `target_service_name = ${sqlString(m.service)}`,
      `target_handler_name = ${sqlString(m.handler)}`,
      ...(m.key !== undefined ? [`target_service_key = ${sqlString(m.key)}`] : []),
      "workflow" in m ? "status != 'completed'" : `idempotency_key = ${sqlString(m.idempotencyKey)}`,
    ];
  return `SELECT ${COLUMNS} FROM sys_invocation WHERE ${where.join(" AND ")} ORDER BY created_at DESC LIMIT 1`;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * Restate's last_failure is `[<http status> <kind>] <message>` and, for a thrown error, the SDK's
 * stack after a newline (whose first line repeats the message).
 */
export function parseFailure(text: string, code?: string, entry?: string): InvocationError {
  const [first = "", ...rest] = text.split("\n");
  const message = first.replace(/^\[[^\]]*\]\s*/, "").trim() || first.trim();
  const stack = rest.join("\n").trim();
  return {
    message: message.slice(0, 2000),
    ...(code ? { code } : {}),
    ...(stack ? { stack: stack.slice(0, 8000) } : {}),
    ...(entry ? { entry } : {}),
  };
}

function classify(status: string, failed: boolean): TroubleState | undefined {
  if (status === "paused") return "paused";
  if (failed && ["backing-off", "running", "ready", "pending"].includes(status)) return "retrying";
  return undefined;
}

/** One entry per invocation; rows that are neither failing nor among `blockingIds` are dropped. */
export function parseTroubleRows(rows: readonly Record<string, unknown>[], blockingIds: ReadonlySet<string> = new Set()): InvocationInTrouble[] {
  const out = new Map<string, InvocationInTrouble>();
  for (const r of rows) {
    const id = str(r.id);
    const status = str(r.status);
    const service = str(r.target_service_name);
    const handler = str(r.target_handler_name);
    if (!id || !status || !service || !handler || out.has(id)) continue;
    const failure = str(r.last_failure);
    const state = classify(status, failure !== undefined) ?? (blockingIds.has(id) && status !== "completed" ? "blocking" : undefined);
    if (!state) continue;
    const key = typeof r.target_service_key === "string" ? r.target_service_key : undefined;
    const entryName = str(r.last_failure_related_command_name) ?? str(r.last_failure_related_entry_name);
    const entryType = str(r.last_failure_related_command_type) ?? str(r.last_failure_related_entry_type);
    const entry = entryType || entryName ? [entryType, entryName].filter(Boolean).join(" ") : undefined;
    const attempts = typeof r.retry_count === "number" ? r.retry_count : undefined;
    const inv: InvocationInTrouble = {
      id,
      state,
      status,
      target: key === undefined ? `${service}/${handler}` : `${service}/${key}/${handler}`,
      restateService: service,
      handler,
      ...(key !== undefined ? { key } : {}),
    };
    const deploymentId = str(r.pinned_deployment_id) ?? str(r.last_attempt_deployment_id);
    if (deploymentId) inv.deploymentId = deploymentId;
    if (attempts !== undefined) inv.attempts = attempts;
    if (state === "retrying" && str(r.next_retry_at)) inv.nextRetryAt = str(r.next_retry_at);
    if (failure) inv.lastError = parseFailure(failure, str(r.last_failure_error_code), entry);
    if (str(r.created_at)) inv.createdAt = str(r.created_at);
    out.set(id, inv);
  }
  return [...out.values()];
}

/** Retrying and paused invocations of `services`, and those of `blockingIds` still open. */
export async function queryTrouble(admin: Pick<RestateAdmin, "query">, services: readonly string[], blockingIds: readonly string[] = []): Promise<InvocationInTrouble[]> {
  const sql = troubleQuery(services, blockingIds);
  if (!sql) return [];
  return parseTroubleRows(await admin.query(sql), new Set(blockingIds));
}

/** The invocation `m` names, as it is now: in trouble, or not (state undefined), or unknown. */
export async function queryInvocation(admin: Pick<RestateAdmin, "query">, m: InvocationMatch): Promise<{ id: string; status: string; trouble?: InvocationInTrouble } | undefined> {
  const rows = await admin.query(matchQuery(m));
  const row = rows[0];
  if (!row || typeof row.id !== "string") return undefined;
  const [trouble] = parseTroubleRows([row]);
  return { id: row.id, status: String(row.status), ...(trouble ? { trouble } : {}) };
}
