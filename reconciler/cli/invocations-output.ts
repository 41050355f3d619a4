// How the CLI shows invocations in trouble: under each version in `gridiron status`, as a list in
// `gridiron invocations`, and as `gridiron call`'s notices while it waits. Pure: text from data
// and the time now (test/cli/invocations-output.test.ts).
import type { InvocationInTrouble } from "../restate/trouble.ts";
import type { Status } from "../reconcile/status.ts";

/** "in 4 s", "in 3 min", "now" (a time already past: Restate is about to retry). */
export function untilText(iso: string | undefined, now: number): string | undefined {
  const t = iso === undefined ? NaN : Date.parse(iso);
  if (!Number.isFinite(t)) return undefined;
  const s = Math.round((t - now) / 1000);
  if (s <= 0) return "now";
  if (s < 120) return `in ${s} s`;
  if (s < 7200) return `in ${Math.round(s / 60)} min`;
  return `in ${Math.round(s / 3600)} h`;
}

/** "attempt 4 failed, next retry in 8 s" / "paused after 70 attempts: …" / "suspended: still needs this version". */
export function progressText(t: InvocationInTrouble, now: number): string {
  const attempts = t.attempts !== undefined ? `${t.attempts} attempt${t.attempts === 1 ? "" : "s"}` : undefined;
  switch (t.state) {
    case "retrying": {
      const next = untilText(t.nextRetryAt, now);
      const attempt = t.attempts !== undefined ? `attempt ${t.attempts} failed` : "failed";
      return `${attempt}${t.status === "backing-off" && next ? `, next retry ${next}` : t.status === "running" ? ", trying again now" : ""}`;
    }
    case "paused":
      return `paused${attempts ? ` after ${attempts}` : ""}: Restate will not try again until it is resumed`;
    case "blocking":
      return `${t.status}: still needs this version`;
  }
}

/** The error as a user reads it: its message, the entry it happened in, and `stackLines` frames (and how many more). */
export function errorLines(t: InvocationInTrouble, stackLines: number, countRest = true): string[] {
  const e = t.lastError;
  if (!e) return [];
  const head = `${e.message}${e.entry ? `  (in ${e.entry})` : ""}${e.code ? `  [${e.code}]` : ""}`;
  const frames = (e.stack ?? "").split("\n").map((l) => l.trim()).filter((l) => l.startsWith("at "));
  const shown = frames.slice(0, stackLines).map((l) => `  ${l}`);
  if (countRest && frames.length > stackLines && stackLines > 0) shown.push(`  … ${frames.length - stackLines} more frame(s)`);
  return [head, ...shown];
}

/** One invocation as indented lines: what, how far, the error, and the commands that resolve it. */
export function troubleLines(t: InvocationInTrouble, opts: { indent: string; now: number; stackLines: number; countRest?: boolean }): string[] {
  const pad = `${opts.indent}${" ".repeat(10)}`;
  const lines = [`${opts.indent}${t.state.padEnd(9)} ${t.id}  ${t.target}  ${progressText(t, opts.now)}`];
  for (const l of errorLines(t, opts.stackLines, opts.countRest)) lines.push(`${pad}${l}`);
  if (t.resolve?.length) lines.push(`${pad}resolve: ${t.resolve.join("   or: ")}`);
  return lines;
}

/** `gridiron status`: the lines under one version row. */
export function versionTroubleLines(trouble: readonly InvocationInTrouble[] | undefined, now: number): string[] {
  return (trouble ?? []).flatMap((t) => troubleLines(t, { indent: "    ", now, stackLines: 1, countRest: false }));
}

/** `gridiron status`: a line when Restate could not say which invocations are in trouble. */
export function troubleCheckLine(s: Pick<Status, "troubleCheck">): string | undefined {
  return s.troubleCheck?.error ? `invocations: could not ask Restate (${s.troubleCheck.error}); showing what it said at ${s.troubleCheck.checkedAt}` : undefined;
}

export interface InvocationsReport {
  checkedAt?: string;
  error?: string;
  invocations: (InvocationInTrouble & { service: string; version: string })[];
}

/** `gridiron invocations`: grouped by version, whole stacks (up to 12 frames). */
export function invocationsText(r: InvocationsReport, now: number, service?: string): string {
  const lines: string[] = [];
  if (r.error) lines.push(`could not ask Restate: ${r.error}`);
  if (r.invocations.length === 0) {
    lines.push(`no invocations in trouble${service ? ` for ${service}` : ""}: none retrying, paused or holding up a drain${r.checkedAt ? ` (Restate asked at ${r.checkedAt})` : ""}`);
  }
  let group = "";
  for (const t of r.invocations) {
    const g = `${t.service}/${t.version}`;
    if (g !== group) {
      if (group) lines.push("");
      lines.push(g);
      group = g;
    }
    lines.push(...troubleLines(t, { indent: "  ", now, stackLines: 12 }));
  }
  if (r.invocations.length > 0) {
    lines.push("", "Everything else about invocations (journal, state, cancel): npx restate invocations … with RESTATE_ADMIN_URL set to the admin URL in 'gridiron status'.");
  }
  return lines.join("\n");
}

/** `gridiron call`'s notice when an answer is late because the invocation is in trouble. */
export function callNotice(t: InvocationInTrouble, now: number, first: boolean): string {
  const err = t.lastError ? `: ${t.lastError.message}` : "";
  if (t.state === "paused") {
    return `gridiron call: invocation ${t.id} (${t.target}) is paused${t.attempts !== undefined ? ` after ${t.attempts} attempts` : ""}${err}\n` +
      `  It will not answer until resumed: 'gridiron resume ${t.id}' (after a fix) or end it with 'gridiron kill ${t.id}'. Still waiting (Ctrl-C stops waiting; the invocation stays).`;
  }
  const next = untilText(t.nextRetryAt, now);
  const attempt = t.attempts !== undefined ? `attempt ${t.attempts} failed` : "it failed";
  if (!first) return `gridiron call: ${attempt}${err}${next && t.status === "backing-off" ? `; next retry ${next}` : ""}`;
  return `gridiron call: no answer yet: invocation ${t.id} (${t.target}) is retrying; ${attempt}${err}${next && t.status === "backing-off" ? `; next retry ${next}` : ""}\n` +
    `  Restate retries it until it succeeds or is ended: 'gridiron kill ${t.id}'. Still waiting (Ctrl-C stops waiting; the invocation goes on).`;
}
