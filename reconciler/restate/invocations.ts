// Which invocations still need a deployment, decided from Restate's own data. Pure, so every
// attribution rule is a row in test/reconcile/lifecycle.test.ts ("blockingInvocations").
//
// - An invocation pinned to a deployment needs that deployment until it completes.
// - A queued, scheduled or paused invocation may have no pinned deployment yet: it will start on
//   whatever deployment is latest for its service when it runs, so it counts against that one.
// - Completed invocations (retained for idempotency/journal inspection) need nothing.

export interface OpenInvocation {
  id: string;
  service: string;
  status: string;
  pinnedDeploymentId?: string | null;
}

export const DRAIN_QUERY =
  "SELECT id, target_service_name, status, pinned_deployment_id FROM sys_invocation_status WHERE status != 'completed'";

export function parseInvocationRows(rows: readonly Record<string, unknown>[]): OpenInvocation[] {
  return rows.map((r) => ({
    id: String(r.id),
    service: String(r.target_service_name),
    status: String(r.status),
    pinnedDeploymentId: typeof r.pinned_deployment_id === "string" && r.pinned_deployment_id !== "" ? r.pinned_deployment_id : null,
  }));
}

/** deploymentId → ids of the invocations that still need it (all of them, in input order). */
export function blockingInvocations(
  invocations: readonly OpenInvocation[],
  latestByService: ReadonlyMap<string, string>,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (deployment: string, id: string) => {
    const list = out.get(deployment);
    if (list) list.push(id);
    else out.set(deployment, [id]);
  };
  for (const inv of invocations) {
    if (inv.status === "completed") continue;
    if (inv.pinnedDeploymentId) add(inv.pinnedDeploymentId, inv.id);
    else {
      const latest = latestByService.get(inv.service);
      if (latest) add(latest, inv.id);
    }
  }
  return out;
}
