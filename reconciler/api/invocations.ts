// Invocations in trouble, as GET /status, GET /invocations and the metrics show them. The query
// runs when someone asks (a status request, a scrape, `gridiron call` waiting), not in the
// reconcile pass: a pass needs none of it, and a deploy must not wait on a query of every failing
// invocation. One answer serves everyone who asks within a second, and a Restate that does not
// answer in time costs a status request that long once, after which the last answer is shown with
// the error beside it.
import type { RestateAdmin } from "../restate/admin.ts";
import { queryTrouble, type InvocationInTrouble } from "../restate/trouble.ts";
import type { Condition, ServiceStatus, Status, VersionStatus } from "../reconcile/status.ts";

export interface TroubleSnapshot {
  list: InvocationInTrouble[];
  checkedAt: string;
  error?: string;
}

/** What a query is about: the Restate services our versions provide, and the ids blocking drains. */
function subjects(status: Status): { services: string[]; blocking: string[] } {
  const services = new Set<string>();
  const blocking = new Set<string>();
  for (const svc of status.services) {
    for (const v of svc.versions) {
      if (!v.deploymentId) continue;
      for (const rs of v.restateServices ?? []) services.add(rs);
      for (const id of v.invocations ?? []) blocking.add(id);
    }
  }
  return { services: [...services].sort(), blocking: [...blocking].sort() };
}

type Admin = Pick<RestateAdmin, "query" | "killInvocation" | "resumeInvocation">;

export class InvocationWatch {
  readonly #admin: Admin;
  readonly #ttlMs: number;
  readonly #mapStack: ((stack: string) => string) | undefined;
  #last: { key: string; at: number; snapshot: TroubleSnapshot } | undefined;
  #inflight: { key: string; promise: Promise<TroubleSnapshot> } | undefined;
  /** Bumped by invalidate(): an answer to a question asked before it is not kept. */
  #epoch = 0;

  /**
   * `admin` should have a short timeout of its own: status waits for it. `mapStack` points the
   * stacks Restate keeps (frames in the bundle's index.js) at the sources, through source maps.
   */
  constructor(admin: Admin, opts: { ttlMs?: number; mapStack?: (stack: string) => string } = {}) {
    this.#admin = admin;
    this.#ttlMs = opts.ttlMs ?? 1000;
    this.#mapStack = opts.mapStack;
  }

  /** The invocations in trouble for what `status` shows, at most `ttlMs` old. */
  async snapshot(status: Status): Promise<TroubleSnapshot> {
    const { services, blocking } = subjects(status);
    const key = JSON.stringify([services, blocking]);
    const last = this.#last;
    if (last && last.key === key && Date.now() - last.at < this.#ttlMs) return last.snapshot;
    if (this.#inflight?.key === key) return this.#inflight.promise;
    const promise = this.#query(key, this.#epoch, services, blocking, last?.snapshot).finally(() => {
      if (this.#inflight?.promise === promise) this.#inflight = undefined;
    });
    this.#inflight = { key, promise };
    return promise;
  }

  async #query(key: string, epoch: number, services: string[], blocking: string[], previous: TroubleSnapshot | undefined): Promise<TroubleSnapshot> {
    const checkedAt = new Date().toISOString();
    let snapshot: TroubleSnapshot;
    try {
      snapshot = { list: (await queryTrouble(this.#admin, services, blocking)).map((t) => this.#mapped(t)), checkedAt };
    } catch (err) {
      // Keep showing what was last known (status must answer without Restate), and say why it is old.
      snapshot = { list: previous?.list ?? [], checkedAt: previous?.checkedAt ?? checkedAt, error: `asking Restate for invocations in trouble: ${(err as Error).message}` };
    }
    if (epoch === this.#epoch) this.#last = { key, at: Date.now(), snapshot };
    return snapshot;
  }

  #mapped(t: InvocationInTrouble): InvocationInTrouble {
    const stack = t.lastError?.stack;
    if (!stack || !this.#mapStack) return t;
    try {
      return { ...t, lastError: { ...t.lastError!, stack: this.#mapStack(stack) } };
    } catch {
      return t; // an unreadable source map leaves the stack as Restate has it
    }
  }

  /** After a kill or resume: the next question asks Restate again. */
  invalidate(): void {
    this.#epoch++;
    this.#last = undefined;
    this.#inflight = undefined;
  }

  async kill(id: string): Promise<"killed" | "already-completed"> {
    try {
      return await this.#admin.killInvocation(id);
    } finally {
      this.invalidate();
    }
  }

  /** Resumes a paused invocation (a backing-off one retries at once), optionally on another deployment. */
  async resume(id: string, deployment?: string): Promise<void> {
    try {
      await this.#admin.resumeInvocation(id, deployment);
    } finally {
      this.invalidate();
    }
  }

  /** `status` with each version's invocations in trouble. */
  async status(status: Status): Promise<Status> {
    return withTrouble(status, await this.snapshot(status));
  }
}

/**
 * The commands that resolve an invocation, the usual one first. Moving needs another version to
 * move to: not so for a service removed from the source, whose last version is on its way out.
 */
export function resolveCommands(inv: InvocationInTrouble, svc: Pick<ServiceStatus, "service" | "serving" | "desired">, version: Pick<VersionStatus, "version" | "state">): string[] {
  const movable = version.state !== "serving" && svc.desired !== undefined && svc.serving !== undefined && svc.serving !== version.version;
  const move = `gridiron move ${svc.service} ${version.version}`;
  const kill = `gridiron kill ${inv.id}`;
  switch (inv.state) {
    case "retrying":
      return movable ? [kill, move] : [kill];
    case "paused":
      return [movable ? `gridiron resume ${inv.id} --deployment latest` : `gridiron resume ${inv.id}`, kill];
    case "blocking":
      return movable ? [move, kill] : [kill];
  }
}

/** Where an invocation belongs: the version of its deployment, else the one serving its Restate service. */
function placeOf(inv: InvocationInTrouble, services: readonly ServiceStatus[]): { svc: ServiceStatus; row: VersionStatus } | undefined {
  for (const svc of services) {
    const row = inv.deploymentId ? svc.versions.find((v) => v.deploymentId === inv.deploymentId) : undefined;
    if (row) return { svc, row };
  }
  for (const svc of services) {
    const rows = svc.versions.filter((v) => v.deploymentId && v.restateServices?.includes(inv.restateService));
    const row = rows.find((v) => v.state === "serving") ?? rows[0];
    if (row) return { svc, row };
  }
  return undefined;
}

function failing(inv: InvocationInTrouble): string {
  const attempt = inv.attempts !== undefined ? `attempt ${inv.attempts}` : inv.status;
  const what = inv.state === "paused" ? `is paused after ${attempt}` : `is failing (${attempt})`;
  return `${inv.id} ${what}${inv.lastError ? `: ${inv.lastError.message}` : ""}`;
}

/** Pure: `status` with `snapshot` placed under the versions it belongs to (invocations of other deployments are not ours and are left out). */
export function withTrouble(status: Status, snapshot: TroubleSnapshot): Status {
  const services = status.services.map((svc) => ({ ...svc, versions: svc.versions.map((v) => ({ ...v })) }));
  for (const inv of snapshot.list) {
    const place = placeOf(inv, services);
    if (!place) continue;
    // Paused by a cell watchdog: listed once, as poisoned (with how it took its cell down).
    if (place.row.poisoned?.some((p) => p.id === inv.id)) continue;
    (place.row.trouble ??= []).push({ ...inv, resolve: resolveCommands(inv, place.svc, place.row) });
  }
  for (const svc of services) svc.conditions = svc.conditions.map((c) => drainingMessage(c, svc));
  return { ...status, services, troubleCheck: { checkedAt: snapshot.checkedAt, ...(snapshot.error ? { error: snapshot.error } : {}) } };
}

/** A service Draining because of invocations says which ones fail and how to end them. */
function drainingMessage(c: Condition, svc: ServiceStatus): Condition {
  if (c.type !== "Draining" || !c.status) return c;
  const notes: string[] = [];
  for (const v of svc.versions) {
    if (v.state !== "draining" && v.state !== "stuck") continue;
    const troubled = (v.trouble ?? []).filter((t) => t.state !== "blocking");
    for (const t of troubled) notes.push(`${failing(t)}: end it with '${t.resolve?.[0] ?? `gridiron kill ${t.id}`}'`);
    if ((v.blocking ?? 0) > troubled.length) {
      const movable = svc.desired !== undefined && svc.serving !== undefined && svc.serving !== v.version;
      notes.push(movable
        ? `move what still needs ${v.version} to ${svc.serving} with 'gridiron move ${svc.service} ${v.version}', or end an invocation with 'gridiron kill <id>'`
        : `let what still needs ${v.version} finish, or end it with 'gridiron kill <id>' (ids in 'gridiron invocations ${svc.service}')`);
    }
  }
  return notes.length ? { ...c, message: `${c.message}; ${notes.join("; ")}` } : c;
}

/** Every invocation in trouble of `status` (as withTrouble placed them), optionally of one service. */
export function troubleList(status: Status, service?: string): (InvocationInTrouble & { service: string; version: string })[] {
  const out: (InvocationInTrouble & { service: string; version: string })[] = [];
  for (const svc of status.services) {
    for (const v of svc.versions) {
      for (const t of v.trouble ?? []) {
        if (service === undefined || service === svc.service || service === t.restateService) out.push({ ...t, service: svc.service, version: v.version });
      }
    }
  }
  return out;
}
