// How `gridiron status` shows what the cell watchdogs saw: each cell's RSS, CPU, limits and
// restarts, why a service is Degraded, and the invocations paused as poison with the commands
// that end them. Pure (test/cli/faults-output.test.ts).
import type { PoisonedInvocation } from "../reconcile/poison.ts";
import type { CellStatus, ServiceStatus } from "../reconcile/status.ts";

const HOW: Record<PoisonedInvocation["how"], string> = { hang: "hung", memory: "outgrew the memory limit of", crash: "crashed" };

/** "    rss 84 MB  cpu 3.2 s  limits 5000 ms / 1024 MB  restarts: hang 2, memory 0, crash 0  last: hang at …" */
export function cellHealthLine(h: NonNullable<CellStatus["health"]>): string {
  const rss = h.rssBytes === undefined ? "-" : `${Math.round(h.rssBytes / (1024 * 1024))} MB`;
  const cpu = h.cpuSeconds === undefined ? "-" : `${h.cpuSeconds.toFixed(1)} s`;
  const restarts = `restarts: hang ${h.restarts.hang}, memory ${h.restarts.memory}, crash ${h.restarts.crash}`;
  const last = h.lastEvent ? `  last: ${h.lastEvent.kind} at ${h.lastEvent.at} (pid ${h.lastEvent.pid}: ${h.lastEvent.detail})` : "";
  return `          rss ${rss}  cpu ${cpu}  limits ${h.limits.hangMs} ms / ${h.limits.memoryMb} MB  ${restarts}${last}`;
}

/** The Degraded condition's reason and message under the service line, when it holds. */
export function degradedLine(svc: Pick<ServiceStatus, "conditions">): string | undefined {
  const c = svc.conditions.find((x) => x.type === "Degraded" && x.status);
  return c ? `  degraded (${c.reason}) since ${c.since}: ${c.message}` : undefined;
}

/** Under a version row: each poisoned invocation, how it failed, and what resolves it. */
export function poisonedLines(poisoned: readonly PoisonedInvocation[] | undefined): string[] {
  return (poisoned ?? []).flatMap((p) => [
    `    poisoned  ${p.id}  ${p.target}  ${HOW[p.how]} its cell (in flight at ${p.kills} faults), paused at ${p.pausedAt}`,
    `              resolve: deploy a fix, then ${p.resolve[0]}   or: ${p.resolve[1]}`,
  ]);
}
