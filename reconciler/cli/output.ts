// Human-readable output of the client commands (`--json` prints the API's JSON as it is).
import type { PlanReport } from "../reconcile/status.ts";
import type { ReconcileResult, Status } from "../reconcile/status.ts";
import { hintOf } from "../core/errors.ts";
import { troubleCheckLine, versionTroubleLines } from "./invocations-output.ts";
import { cellHealthLine, degradedLine, poisonedLines } from "./faults-output.ts";
import { meshSuspendedLine, resultSuspendedLine, serviceSuspendedLine } from "./suspend-output.ts";
import { rolloutLines } from "./rollout-output.ts";
import { revisionIsInformative } from "../source/source.ts";

export function print(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** The registry's next step for an error code, as an indented line (none for a code it does not know). */
function hintLine(code: string, indent: string): string {
  const hint = hintOf(code);
  return hint ? `\n${indent}hint: ${hint}` : "";
}

export function printResult(r: ReconcileResult): void {
  console.log(`reconcile #${r.id} (${r.trigger}): ${r.outcome} in ${r.durationMs} ms${r.revision ? ` at ${r.revision}` : ""}`);
  for (const a of r.actions) console.log(`  ${a.type.padEnd(9)} ${a.service}/${a.version}`);
  for (const d of r.deployed) console.log(`  now serving ${d.service}/${d.version}`);
  for (const e of r.errors) console.log(`  error ${e.code}: ${e.message}${hintLine(e.code, "    ")}`);
  const suspended = resultSuspendedLine(r);
  if (suspended) console.log(suspended);
  else if (r.actions.length === 0 && r.errors.length === 0) console.log("  nothing to do: the mesh matches the bundles");
}

export function printPlan(p: PlanReport): void {
  console.log(`plan at ${p.revision}${p.plan.swap ? " (workerd config changes)" : ""}:`);
  if (p.plan.actions.length === 0 && p.invalid.length === 0) console.log("  nothing to do");
  for (const a of p.plan.actions) {
    const detail = a.type === "drain" ? `  ${a.blocking > 0 ? `${a.blocking} invocation(s) still need it` : "drained, in grace period"}${a.stuck ? " (stuck)" : ""}` : "";
    console.log(`  ${a.type.padEnd(9)} ${a.service}/${a.version}${detail}`);
  }
  for (const c of p.checks) {
    console.log(c.ok ? `  check     ${c.service}/${c.version}: loads, discovers [${c.restateServices?.join(", ")}], Restate accepts it (dry run)` : `  REFUSED   ${c.service}/${c.version}: ${c.message}`);
  }
  for (const i of p.invalid) console.log(`  invalid   ${i.service}: ${i.message}${hintLine(i.code, "            ")}`);
}

export function printStatus(s: Status): void {
  console.log(`source   ${s.source.kind} ${s.source.location}${revisionIsInformative(s.source) ? ` @ ${s.source.revision}` : ""}${s.source.error ? `\n         ERROR: ${s.source.error}` : ""}`);
  console.log(`restate  ingress ${s.restate.ingressUrl}  admin ${s.restate.adminUrl}`);
  const lanes = (s.workerd.cells ?? []).filter((c) => c.lane);
  if (lanes.length > 0) {
    // Cell 0 need not run with lanes, so no one process stands for workerd: each is listed below.
    const cells = (s.workerd.cells ?? []).length - lanes.length;
    console.log(`workerd  ${cells} cells from ${s.workerd.url} (${s.workerd.mode ?? "static"} mode), ${lanes.length} lanes from ${lanes[0]!.url}`);
  } else console.log(`workerd  ${s.workerd.url}  pid ${s.workerd.pid ?? "-"}  generation ${s.workerd.generation}  (${s.workerd.mode ?? "static"} mode)`);
  for (const c of s.workerd.cells ?? []) {
    if (c.pid === undefined && c.versions.length === 0) continue;
    console.log(`  ${c.lane ? "lane" : "cell"} ${c.index}  ${c.url}  pid ${c.pid ?? "-"}  generation ${c.generation}  ${c.versions.length ? c.versions.join(", ") : "(empty)"}`);
    if (c.health) console.log(cellHealthLine(c.health));
  }
  if (s.lastReconcile) {
    const r = s.lastReconcile;
    console.log(`last     reconcile #${r.id} ${r.outcome} in ${r.durationMs} ms at ${r.startedAt} (${r.trigger})`);
  }
  const meshSuspended = meshSuspendedLine(s);
  if (meshSuspended) console.log(meshSuspended);
  console.log("");
  if (s.services.length === 0) console.log("no services yet: put a bundle into the bundles folder (just deploy-demo)");
  const troubleCheck = troubleCheckLine(s);
  if (troubleCheck) console.log(troubleCheck);
  for (const svc of s.services) {
    const flags = svc.conditions.filter((c) => c.status).map((c) => c.type).join(",") || "-";
    // A service removed from the source keeps its last version registered until it drains: that is no longer "serving".
    const leaving = svc.desired === undefined && svc.serving !== undefined && !svc.versions.some((v) => v.version === svc.serving && v.state === "serving");
    const head = leaving ? `  removed from the source; ${svc.serving} drains` : svc.serving ? `  serving ${svc.serving}` : "";
    console.log(`${svc.service}  [${flags}]${head}${svc.pinned ? `  (rollback pin: ${svc.pinned})` : ""}`);
    const degraded = degradedLine(svc);
    if (degraded) console.log(degraded);
    const suspended = serviceSuspendedLine(svc);
    if (suspended) console.log(suspended);
    if (svc.rollout) for (const line of rolloutLines(svc.rollout)) console.log(line);
    for (const v of svc.versions) {
      const extra = v.restateServices?.length ? `  [${v.restateServices.join(", ")}]` : "";
      console.log(`  ${v.state.padEnd(10)} ${v.version}${extra}${v.reason ? `  ${v.reason}` : ""}`);
      for (const line of versionTroubleLines(v.trouble, Date.now())) console.log(line);
      for (const line of poisonedLines(v.poisoned)) console.log(line);
    }
    if (svc.error) console.log(`  ERROR since ${svc.error.since}: ${svc.error.message}${hintLine(svc.error.code, "  ")}`);
  }
  if (s.history.length > 1) {
    console.log("\nrecent reconciles:");
    for (const r of s.history) {
      const what = r.deployed.length ? ` deployed ${r.deployed.map((d) => `${d.service}/${d.version}`).join(", ")}` : r.actions.length ? ` ${r.actions.length} action(s)` : "";
      console.log(`  #${String(r.id).padEnd(4)} ${r.startedAt}  ${r.outcome.padEnd(7)} ${String(r.durationMs).padStart(5)} ms  ${r.trigger}${what}${r.errors.length ? `  (${r.errors.length} error(s))` : ""}`);
    }
  }
}
