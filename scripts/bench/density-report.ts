// The density section's table, MB per live version for Gridiron and for one Node SDK process per
// version, and issue 16's density targets.
import { NOISY_CORES } from "./cpu.ts";
import type { DensityResult, NodeAlternative } from "./density.ts";

interface Check {
  name: string;
  target: string;
  value: string;
  pass: boolean;
  noisy?: boolean;
}

const mb = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? "-" : `${Math.round(v)}`);

/** Node processes: RSS of the first and the marginal RSS of each further one, after a call to each. */
export function nodeLine(node: readonly NodeAlternative[]): { first: number; each: number } | undefined {
  const one = node.find((n) => n.processes === 1);
  const many = [...node].sort((a, b) => b.processes - a.processes)[0];
  if (!one) return undefined;
  const each = many && many.processes > 1 ? (many.afterCalls.rssMb - one.afterCalls.rssMb) / (many.processes - 1) : one.afterCalls.rssMb;
  return { first: one.afterCalls.rssMb, each };
}

const nodeAt = (line: { first: number; each: number }, n: number) => line.first + (n - 1) * line.each;

export function renderDensity(d: DensityResult): string[] {
  const out: string[] = [];
  out.push(`6. Density — live Restate SDK versions on one node: ${d.bundle}`);
  const line = nodeLine(d.node);
  const rows = d.steps.map((s) => {
    const node = line ? nodeAt(line, s.versions) : undefined;
    return [
      String(s.versions), `${s.rest.each.length}`, mb(s.rest.rssMb), mb(s.afterCalls.rssMb), mb(s.afterCalls.pssMb), (s.afterCalls.rssMb / s.versions).toFixed(1),
      `${s.calls.p50} / ${s.calls.p99}`, s.cold ? `${s.cold.p50} / ${s.cold.p99} (${s.cold.samples})` : "-", mb(node), node ? `${(node / s.afterCalls.rssMb).toFixed(1)}x` : "-",
      mb(s.grow.perVersionMs),
    ];
  });
  out.push(table(["versions", "cells", "RSS at rest", "after a call to each", "PSS", "MB/version", "that call p50/p99 ms", "cold first call p50/p99 ms (n)", "node processes RSS (extrap.)", "node/gridiron", "add ms/version"], rows));
  const first = d.steps[0];
  const last = d.steps.at(-1);
  if (first && last && last.versions > first.versions) {
    const slope = (last.afterCalls.rssMb - first.afterCalls.rssMb) / (last.versions - first.versions);
    out.push(`   Gridiron: ${slope.toFixed(1)} MB per further live version after a call to each (${first.versions} → ${last.versions}), ${((last.rest.rssMb - first.rest.rssMb) / (last.versions - first.versions)).toFixed(1)} MB at rest`);
  }
  if (line) {
    const n = d.node.map((x) => `${x.processes}: ${mb(x.rest.rssMb)} MB at rest, ${mb(x.afterCalls.rssMb)} MB after a call (start-up ${x.startMs} ms, first call p50 ${x.firstCall.p50} ms)`).join("; ");
    out.push(`   Node SDK, one process per version — ${n}; ${line.each.toFixed(1)} MB per further process (extrapolated linearly above)`);
  }
  const cold = d.steps.filter((s) => s.cold);
  if (cold.length) out.push(`   cold: every cell SIGKILLed, the fresh generations (same live set, nothing loaded) answered after ${cold.map((s) => `${s.cold!.restartMs} ms`).join(", ")}; a sample of versions then called once each through ingress, one at a time (other processes used ${cold.map((s) => `${s.cold!.foreign.toFixed(2)}`).join(", ")} cores meanwhile)`);
  out.push("   (RSS at rest: the versions are registered, so Restate's discovery call has loaded each one; MB/version = RSS after a call to each over versions)");
  if (d.skipped.length) out.push(`   not reached within the time budget: ${d.skipped.join(", ")} versions`);
  if (d.direct?.steps.length) out.push(...renderDirect(d, line));
  for (const n of d.notes) out.push(`   note: ${n}`);
  return out;
}

function renderDirect(d: DensityResult, line: { first: number; each: number } | undefined): string[] {
  const steps = d.direct!.steps;
  const rows = steps.map((s) => {
    const node = line ? nodeAt(line, s.versions) : undefined;
    return [
      String(s.versions), String(s.cells), String(s.loadedMax), mb(s.rest.rssMb), mb(s.first.after.rssMb), (s.first.after.rssMb / s.versions).toFixed(1),
      `${s.first.p50} / ${s.first.p99}`, `${s.second.p50} / ${s.second.p99}`, mb(s.second.after.rssMb), `${s.first.failed + s.second.failed}`,
      mb(node), node ? `${(node / s.first.after.rssMb).toFixed(1)}x` : "-",
    ];
  });
  const out = [`   workerd alone, without Restate (registering 1,000 deployments with restate-server is the mesh's bottleneck): each size's versions spread over the cells,`,
    `   request identity on (signed like Restate's), every version called once (nothing loaded: each a first call to a cold version), then once again in the same order`,
    table(["versions", "cells", "loaded max/cell", "RSS at start", "after a call to each", "MB/version", "first calls p50/p99 ms", "second round p50/p99 ms", "RSS after it", "failed", "node processes RSS (extrap.)", "node/gridiron"], rows)];
  const a = steps[0];
  const b = steps.at(-1);
  if (a && b && b.versions > a.versions) out.push(`   workerd alone: ${((b.first.after.rssMb - a.first.after.rssMb) / (b.versions - a.versions)).toFixed(1)} MB per further live version after a call to each (${a.versions} → ${b.versions}); a second round is cold wherever a cell holds more versions than it keeps loaded`);
  if (steps.some((s) => s.v8Flags)) out.push(`   V8 flags: ${steps[0]!.v8Flags?.join(" ") ?? "the daemon's"}`);
  if (steps.some((s) => s.bootstrapCacheRejected)) out.push("   note: workerd's bootstrap compile cache did not match these V8 flags, so every new isolate compiled workerd's own scripts from source");
  return out;
}

export function densityTargets(d: DensityResult): Check[] {
  const out: Check[] = [];
  const at1000 = d.steps.find((s) => s.versions >= 1000);
  const direct1000 = d.direct?.steps.find((s) => s.versions >= 1000);
  if (direct1000) {
    out.push({ name: `density: workerd alone (no Restate), ${direct1000.versions} live SDK versions, after a call to each`, target: "≤ 2048 MB at 1,000", value: `${mb(direct1000.first.after.rssMb)} MB`, pass: direct1000.first.after.rssMb <= 2048 });
    const p99 = direct1000.first.p99;
    out.push({ name: `density: workerd alone, first call to a version not loaded, p99 (${direct1000.versions} versions)`, target: "≤ 100 ms", value: `${p99} ms`, pass: p99 <= 100 });
  }
  const biggest = d.steps.at(-1);
  if (biggest) {
    const s = at1000 ?? biggest;
    out.push({
      name: `density: workerd RSS with ${s.versions} live SDK versions, after a call to each${at1000 ? "" : " (1,000 not reached)"}`,
      target: "≤ 2048 MB at 1,000",
      value: `${mb(s.afterCalls.rssMb)} MB`,
      pass: at1000 !== undefined && s.afterCalls.rssMb <= 2048,
    });
  }
  const colds = d.steps.flatMap((s) => (s.cold ? [s] : []));
  const worst = colds.sort((a, b) => b.cold!.p99 - a.cold!.p99)[0];
  if (worst?.cold) out.push({ name: `density: first call to a version not loaded, p99 (worst size: ${worst.versions})`, target: "≤ 100 ms", value: `${worst.cold.p99} ms`, pass: worst.cold.p99 <= 100, noisy: worst.cold.foreign > NOISY_CORES });
  return out;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => "  " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), "  " + widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
