// Prometheus metrics (GET /metrics). Counters and histograms follow the reconciler's "pass" events
// and workerd's generation events; the per-service gauges are taken from status() at scrape time,
// so they always say what `gridiron status` says. The registry is our own (not prom-client's global
// one): two meshes in one process (tests) must not share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { isSourceError } from "../core/errors.ts";
import type { InvocationWatch } from "./invocations.ts";
import type { Reconciler } from "../reconcile/loop.ts";
import type { ReconcileResult, VersionState } from "../reconcile/status.ts";
import type { WorkerdProcess } from "../workerd/process.ts";
import { FAULT_KINDS, type Watchdog } from "../workerd/watchdog.ts";

const VERSION_STATES: readonly VersionState[] = ["serving", "draining", "stuck", "stored", "failed", "unservable"];
const OUTCOMES: readonly ReconcileResult["outcome"][] = ["ok", "noop", "partial", "error"];

/** What the metrics listen to: the reconciler (events + status) and the workerd owner (events). */
export interface MetricsSources {
  reconciler: Pick<Reconciler, "on" | "off" | "status">;
  /** Every workerd process of the node (one per cell). */
  workerd: readonly Pick<WorkerdProcess, "on" | "off">[];
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** Adds the invocations in trouble to status() at scrape time. */
  invocations?: Pick<InvocationWatch, "status">;
  /** The cells' watchdogs: their kills and the crashes they saw. */
  watchdogs?: readonly Pick<Watchdog, "on" | "off">[];
  /** The --notify-url sender (node/notify.ts): one "delivery" event per notification, by result. */
  notifications?: NotificationSource;
}

type DeliveryListener = (d: { result: string }) => void;
export interface NotificationSource {
  on(event: "delivery", fn: DeliveryListener): unknown;
  off(event: "delivery", fn: DeliveryListener): unknown;
}

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** Refreshes the gauges taken from status(), then renders the text exposition format. */
  scrape(): Promise<string>;
  /** Stops listening. Safe to call twice. */
  close(): void;
}

export function createMetrics(src: MetricsSources, opts: { defaultMetrics?: boolean } = {}): Metrics {
  const now = src.now ?? Date.now;
  const registry = new Registry();
  const registers = [registry];
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const reconciles = new Counter({
    name: "gridiron_reconciles_total",
    help: "Reconcile passes by outcome: ok (changed something), noop, partial (changed something, then failed), error",
    labelNames: ["outcome"] as const,
    registers,
  });
  for (const outcome of OUTCOMES) reconciles.inc({ outcome }, 0);
  const duration = new Histogram({
    name: "gridiron_reconcile_duration_seconds",
    help: "Duration of reconcile passes",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  });
  const errors = new Counter({
    name: "gridiron_reconcile_errors_total",
    help: "Errors reported by reconcile passes, by error code (e.g. VERSION_INVALID, BUNDLE_INVALID, SOURCE_GIT_FETCH); a rejected bundle or version counts once, when it appears",
    labelNames: ["code"] as const,
    registers,
  });
  const sourceErrors = new Counter({
    name: "gridiron_source_fetch_errors_total",
    help: "Reconcile passes that could not read the desired state from the source (error codes SOURCE_*)",
    registers,
  });
  const lastSuccess = new Gauge({
    name: "gridiron_last_successful_reconcile_timestamp_seconds",
    help: "Unix time of the end of the last pass with outcome ok or noop (absent before the first one)",
    registers,
  });
  lastSuccess.remove({});
  const sinceSuccess = new Gauge({
    name: "gridiron_seconds_since_last_successful_reconcile",
    help: "Seconds since the last pass with outcome ok or noop ended; before the first one, seconds since start",
    registers,
  });
  const versions = new Gauge({
    name: "gridiron_versions",
    help: "Versions per Gridiron service and state (serving, draining, stuck, stored, failed, unservable), as in gridiron status",
    labelNames: ["service", "state"] as const,
    registers,
  });
  const draining = new Gauge({
    name: "gridiron_draining_invocations",
    help: "Invocations that still need a replaced version (draining or stuck), per service and version",
    labelNames: ["service", "version"] as const,
    registers,
  });
  const conditions = new Gauge({
    name: "gridiron_service_condition",
    help: "1 when the condition (Ready, Progressing, Draining, Failed) of a service is true, else 0",
    labelNames: ["service", "condition"] as const,
    registers,
  });
  const trouble = new Gauge({
    name: "gridiron_invocations_in_trouble",
    help: "Invocations that need a human, per service and state: retrying (failed, tried again), paused, blocking (still need a replaced version), as in gridiron invocations",
    labelNames: ["service", "state"] as const,
    registers,
  });
  const rolloutSteps = new Counter({ name: "gridiron_rollout_steps_total", help: "Rollout steps taken: a ramp's new version got a larger share of new invocations, or all of them (reconcile/rollouts.ts)", labelNames: ["service"] as const, registers });
  const rolloutAborts = new Counter({ name: "gridiron_rollout_aborts_total", help: "Rollouts aborted (by their analysis or by hand): the old version takes every new call again", labelNames: ["service"] as const, registers });
  const rolloutWeight = new Gauge({ name: "gridiron_rollout_weight_percent", help: "Percent of new invocations a rollout's new version gets now (0 once aborted, 100 when done)", labelNames: ["service"] as const, registers });
  const suspended = new Gauge({ name: "gridiron_suspended", help: "1 while a service is suspended (gridiron suspend, of it or of the whole mesh): Gridiron changes nothing of it; else 0", labelNames: ["service"] as const, registers });
  const meshSuspended = new Gauge({ name: "gridiron_mesh_suspended", help: "1 while the whole mesh is suspended (gridiron suspend without a service): passes observe and change nothing; else 0", registers });
  const swaps = new Counter({ name: "gridiron_workerd_swaps_total", help: "workerd generation swaps (a new config took over the listening socket)", registers });
  const swapSeconds = new Histogram({
    name: "gridiron_workerd_swap_duration_seconds",
    help: "From the start of a swap until the new workerd generation listened",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const updates = new Counter({ name: "gridiron_workerd_updates_total", help: "Live-set changes made in the serving workerd without a new generation (loader mode)", registers });
  const restarts = new Counter({ name: "gridiron_workerd_restarts_total", help: "workerd generations restarted after a crash", registers });
  const crashes = new Counter({ name: "gridiron_workerd_crashes_total", help: "workerd generations that exited without being asked to", registers });
  const generation = new Gauge({ name: "gridiron_workerd_generation", help: "Number of the serving workerd generation", registers });
  const workerdUp = new Gauge({ name: "gridiron_workerd_up", help: "1 while every workerd cell or lane that holds versions has a serving generation, else 0", registers });
  const cellRestarts = new Counter({ name: "gridiron_cell_restarts_total", help: "Cell processes replaced, by reason: hang and memory (killed by the watchdog), crash (died by itself)", labelNames: ["cell", "reason"] as const, registers });
  const cellRss = new Gauge({ name: "gridiron_cell_rss_bytes", help: "Resident memory of each cell's serving workerd process", labelNames: ["cell"] as const, registers });
  const cellCpu = new Gauge({ name: "gridiron_cell_cpu_seconds", help: "CPU time (user + system) of each cell's serving workerd process; starts again from 0 with each new process", labelNames: ["cell"] as const, registers });
  const poisoned = new Gauge({ name: "gridiron_poisoned_invocations", help: "Invocations Gridiron paused because they were in flight each time their cell hung, outgrew its memory or crashed", labelNames: ["service"] as const, registers });

  const notifications = new Counter({ name: "gridiron_notifications_total", help: "Notifications to --notify-url by result: delivered (2xx), failed (refused, or retries ran out), dropped (queue full or shutting down)", labelNames: ["result"] as const, registers });
  if (src.notifications) for (const result of ["delivered", "failed", "dropped"]) notifications.inc({ result }, 0);
  const onDelivery: DeliveryListener = (d) => notifications.inc({ result: d.result });
  src.notifications?.on("delivery", onDelivery);

  const startedAt = now();
  let lastSuccessAt: number | undefined;

  const onPass = (r: ReconcileResult) => {
    reconciles.inc({ outcome: r.outcome });
    duration.observe(r.durationMs / 1000);
    // A rejected bundle or version counts once, in the pass that first reports it (reconcile/rejections.ts).
    for (const e of r.errors) if (!e.repeated) errors.inc({ code: e.code });
    if (r.errors.some(isSourceError)) sourceErrors.inc();
    for (const e of r.rollouts ?? []) (e.event === "abort" ? rolloutAborts : rolloutSteps).inc({ service: e.service });
    if (r.outcome === "ok" || r.outcome === "noop") {
      lastSuccessAt = Date.parse(r.startedAt) + r.durationMs;
      if (!Number.isFinite(lastSuccessAt)) lastSuccessAt = now();
      lastSuccess.set(lastSuccessAt / 1000);
    }
  };
  const onSwap = (e: { ms: number }) => {
    swaps.inc();
    swapSeconds.observe(e.ms / 1000);
  };
  const onUpdate = () => updates.inc();
  const onRestart = () => restarts.inc();
  const onCrash = () => crashes.inc();
  const onFault = (f: { index: number; kind: string }) => cellRestarts.inc({ cell: String(f.index), reason: f.kind });
  for (const w of src.watchdogs ?? []) {
    w.on("fault", onFault);
  }
  src.reconciler.on("pass", onPass);
  for (const w of src.workerd) {
    w.on("swap", onSwap);
    w.on("update", onUpdate);
    w.on("restart", onRestart);
    w.on("crash", onCrash);
  }

  /** Sets the gauges that mirror status(): label sets of services that are gone disappear. */
  const refresh = async () => {
    const s = src.invocations ? await src.invocations.status(src.reconciler.status()) : src.reconciler.status();
    versions.reset();
    draining.reset();
    conditions.reset();
    trouble.reset();
    poisoned.reset();
    rolloutWeight.reset();
    suspended.reset();
    cellRss.reset();
    cellCpu.reset();
    for (const c of s.workerd.cells ?? []) {
      if (c.health?.rssBytes !== undefined) cellRss.set({ cell: String(c.index) }, c.health.rssBytes);
      if (c.health?.cpuSeconds !== undefined) cellCpu.set({ cell: String(c.index) }, c.health.cpuSeconds);
      // Every reason shows from the start, so a rate over the counter works before the first fault.
      if (c.health) for (const reason of FAULT_KINDS) cellRestarts.inc({ cell: String(c.index), reason }, 0);
    }
    for (const svc of s.services) {
      if (src.watchdogs) poisoned.set({ service: svc.service }, svc.versions.reduce((n, v) => n + (v.poisoned?.length ?? 0), 0));
      for (const state of ["retrying", "paused", "blocking"] as const) {
        const n = svc.versions.reduce((sum, v) => sum + (v.trouble ?? []).filter((t) => t.state === state).length, 0);
        if (src.invocations) trouble.set({ service: svc.service, state }, n);
      }
      for (const state of VERSION_STATES) versions.set({ service: svc.service, state }, svc.versions.filter((v) => v.state === state).length);
      for (const v of svc.versions) {
        if (v.state === "draining" || v.state === "stuck") draining.set({ service: svc.service, version: v.version }, v.blocking ?? 0);
      }
      for (const c of svc.conditions) conditions.set({ service: svc.service, condition: c.type }, c.status ? 1 : 0);
      if (svc.rollout) rolloutWeight.set({ service: svc.service }, svc.rollout.weight);
      suspended.set({ service: svc.service }, svc.suspended ? 1 : 0);
    }
    meshSuspended.set(s.suspended ? 1 : 0);
    generation.set(s.workerd.generation);
    // Cells and lanes that must run: those holding versions, and cell 0 unless there are lanes
    // (without lanes it always runs, also empty).
    const cells = s.workerd.cells ?? [];
    const lanes = cells.some((c) => c.lane);
    const needed = cells.filter((c) => c.versions.length > 0 || (c.index === 0 && !lanes));
    workerdUp.set(needed.every((c) => c.pid !== undefined) ? 1 : 0);
    sinceSuccess.set(Math.max(0, (now() - (lastSuccessAt ?? startedAt)) / 1000));
  };

  let closed = false;
  return {
    registry,
    contentType: registry.contentType,
    async scrape() {
      await refresh();
      return registry.metrics();
    },
    close() {
      if (closed) return;
      closed = true;
      src.reconciler.off("pass", onPass);
      src.notifications?.off("delivery", onDelivery);
      for (const w of src.watchdogs ?? []) w.off("fault", onFault);
      for (const w of src.workerd) {
        w.off("swap", onSwap);
        w.off("update", onUpdate);
        w.off("restart", onRestart);
        w.off("crash", onCrash);
      }
    },
  };
}
