// How `gridiron status` says what is suspended (cli/suspend.ts has the commands).
import type { ServiceStatus, Status, SuspensionStatus } from "../reconcile/status.ts";

const suspensionText = (s: SuspensionStatus) => `since ${s.since}${s.by ? ` by ${s.by}` : ""}${s.reason ? `: ${s.reason}` : ""}`;

/** `gridiron status`: the line saying the whole mesh is suspended. */
export function meshSuspendedLine(s: Pick<Status, "suspended">): string | undefined {
  return s.suspended ? `SUSPENDED the whole mesh ${suspensionText(s.suspended)}: passes observe and change nothing` : undefined;
}

/** `gridiron status`: the line under a service suspended by name (the mesh's suspension is said once, above). */
export function serviceSuspendedLine(svc: Pick<ServiceStatus, "suspended">): string | undefined {
  return svc.suspended?.scope === "service" ? `  SUSPENDED ${suspensionText(svc.suspended)}` : undefined;
}

/** `gridiron reconcile`: the services a pass left alone because they are suspended. */
export function resultSuspendedLine(r: { suspended?: string[] }): string | undefined {
  return r.suspended?.length ? `  suspended, left as they are: ${r.suspended.join(", ")}` : undefined;
}
