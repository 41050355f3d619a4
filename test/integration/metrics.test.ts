// GET /metrics in a real mesh, parsed with a Prometheus text-format parser: the counters move with
// reconciles, swaps, crashes and source errors, and the per-service gauges say what /status says.
import { mkdtemp, rename } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import type { Status } from "../../reconciler/reconcile/status.ts";
import { deployGreeterVariant } from "../helpers/bundles.ts";
import { allocatePorts, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

interface Family {
  name: string;
  help: string;
  type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}
// The parser ships no types; this is its whole API.
const parsePrometheusText = createRequire(import.meta.url)("parse-prometheus-text-format") as (text: string) => Family[];

let root: string;
let dataDir: string;
let bundlesDir: string;
let built: string;
let ports: MeshPorts;
let mesh: RunningMesh | undefined;

async function scrape(): Promise<Map<string, Family>> {
  const r = await mesh!.http.request(`${mesh!.apiUrl}/metrics`);
  expect(r.status).toBe(200);
  return new Map(parsePrometheusText(r.text).map((f) => [f.name, f]));
}

/** The value of the sample of `name` whose labels include `labels` (undefined: no such sample). */
function value(m: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const sample = m.get(name)?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  if (!sample) return undefined;
  return Number(sample.value ?? sample.count);
}

const num = (m: Map<string, Family>, name: string, labels: Record<string, string> = {}) => value(m, name, labels) ?? 0;

async function reconcile(): Promise<void> {
  await mesh!.http.request(`${mesh!.apiUrl}/reconcile`, { method: "POST" });
}

/** Versions per (service, state) as /status reports them, in the gauge's shape. */
function versionsByState(s: Status): Record<string, number> {
  const out: Record<string, number> = {};
  for (const svc of s.services) for (const v of svc.versions) out[`${svc.service}/${v.state}`] = (out[`${svc.service}/${v.state}`] ?? 0) + 1;
  return out;
}

function gaugeByState(m: Map<string, Family>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of m.get("gridiron_versions")?.metrics ?? []) if (Number(s.value) > 0) out[`${s.labels!.service}/${s.labels!.state}`] = Number(s.value);
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-metrics-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  built = path.join(root, "built");
  ports = await allocatePorts();
  await buildService("greeter", built);
  await buildService("greeter", bundlesDir);
  await buildService("counter", bundlesDir);
  // Lanes off: the counters of loader mode's in-place updates and of cell 0's crash are measured here.
  mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log"), env: { GRIDIRON_DRAIN_GRACE_MS: "600000", GRIDIRON_LANES: "0" } });
  await waitFor("greeter and counter to serve", async () => {
    const s = await mesh!.status();
    return s.services.filter((x) => x.serving).length === 2 ? true : undefined;
  }, 60_000);
});

afterAll(() => tearDownMesh(mesh, root, dataDir));

describe("GET /metrics", () => {
  it("exposes every Gridiron metric family with its type, in Prometheus text format", async () => {
    const m = await scrape();
    const expected: Record<string, Family["type"]> = {
      gridiron_reconciles_total: "COUNTER",
      gridiron_reconcile_duration_seconds: "HISTOGRAM",
      gridiron_reconcile_errors_total: "COUNTER",
      gridiron_source_fetch_errors_total: "COUNTER",
      gridiron_seconds_since_last_successful_reconcile: "GAUGE",
      gridiron_last_successful_reconcile_timestamp_seconds: "GAUGE",
      gridiron_versions: "GAUGE",
      gridiron_draining_invocations: "GAUGE",
      gridiron_service_condition: "GAUGE",
      gridiron_workerd_swaps_total: "COUNTER",
      gridiron_workerd_swap_duration_seconds: "HISTOGRAM",
      gridiron_workerd_restarts_total: "COUNTER",
      gridiron_workerd_crashes_total: "COUNTER",
      gridiron_workerd_generation: "GAUGE",
      gridiron_workerd_up: "GAUGE",
      process_resident_memory_bytes: "GAUGE",
    };
    for (const [name, type] of Object.entries(expected)) expect({ name, type: m.get(name)?.type }).toEqual({ name, type });
    for (const outcome of ["ok", "noop", "partial", "error"]) expect(value(m, "gridiron_reconciles_total", { outcome })).toBeGreaterThanOrEqual(0);
    expect(num(m, "gridiron_reconciles_total", { outcome: "ok" })).toBeGreaterThanOrEqual(1);
    expect(num(m, "gridiron_workerd_up")).toBe(1);
    expect(num(m, "gridiron_service_condition", { service: "greeter", condition: "Ready" })).toBe(1);
  });

  it("a reconcile pass increments the counter and the histogram, and resets the time since success", async () => {
    const before = await scrape();
    await reconcile();
    const after = await scrape();
    expect(num(after, "gridiron_reconciles_total", { outcome: "noop" })).toBeGreaterThanOrEqual(num(before, "gridiron_reconciles_total", { outcome: "noop" }) + 1);
    expect(num(after, "gridiron_reconcile_duration_seconds")).toBeGreaterThanOrEqual(num(before, "gridiron_reconcile_duration_seconds") + 1);
    expect(num(after, "gridiron_seconds_since_last_successful_reconcile")).toBeLessThan(5);
    expect(num(after, "gridiron_last_successful_reconcile_timestamp_seconds") * 1000).toBeGreaterThan(Date.now() - 10_000);
  });

  it("versions by state match /status", async () => {
    // Scrape and status are two requests: a pass may land between them, so compare until they agree.
    const agreed = await waitFor("metrics and status to agree", async () => {
      const m = await scrape();
      const s = await mesh!.status();
      const [g, v] = [gaugeByState(m), versionsByState(s)];
      return JSON.stringify(g) === JSON.stringify(v) ? g : undefined;
    });
    expect(agreed).toEqual({ "counter/serving": 1, "greeter/serving": 1 });
  });

  it("a deploy counts a live-set update (loader mode: no new workerd generation), and the replaced version's drain shows per version", async () => {
    const before = await scrape();
    const old = (await mesh!.status()).services.find((s) => s.service === "greeter")!.serving!;
    // An invocation that sleeps keeps the old version draining.
    const sent = await mesh!.call("/Greeter/greetLater/send", { name: "Sleepy", ms: 600_000 });
    expect(sent.status).toBe(202);

    await deployGreeterVariant(built, bundlesDir, "Ahoy");

    const m = await waitFor("the old greeter to drain with one invocation", async () => {
      const now = await scrape();
      return num(now, "gridiron_draining_invocations", { service: "greeter", version: old }) === 1 ? now : undefined;
    }, 60_000);
    expect(num(m, "gridiron_workerd_updates_total")).toBeGreaterThan(num(before, "gridiron_workerd_updates_total"));
    expect(num(m, "gridiron_workerd_swaps_total")).toBe(num(before, "gridiron_workerd_swaps_total"));
    expect(num(m, "gridiron_workerd_generation")).toBe(num(before, "gridiron_workerd_generation"));
    expect(num(m, "gridiron_versions", { service: "greeter", state: "draining" })).toBe(1);
    expect(num(m, "gridiron_versions", { service: "greeter", state: "serving" })).toBe(1);
    expect(num(m, "gridiron_service_condition", { service: "greeter", condition: "Draining" })).toBe(1);
    expect(num(m, "gridiron_reconciles_total", { outcome: "ok" })).toBeGreaterThan(num(before, "gridiron_reconciles_total", { outcome: "ok" }));
  });

  it("a workerd crash counts a crash and a restart", async () => {
    const pid = (await mesh!.status()).workerd.pid!;
    const before = await scrape();
    process.kill(pid, "SIGKILL");
    const m = await waitFor("the restart to be counted", async () => {
      const now = await scrape();
      return num(now, "gridiron_workerd_restarts_total") > num(before, "gridiron_workerd_restarts_total") ? now : undefined;
    }, 60_000);
    expect(num(m, "gridiron_workerd_crashes_total")).toBe(num(before, "gridiron_workerd_crashes_total") + 1);
    expect(num(m, "gridiron_workerd_up")).toBe(1);
    expect((await mesh!.call("/Greeter/greet")).json).toMatch(/^Ahoy, World! /);
  });

  it("a pass that cannot read the source counts a source fetch error and an error outcome", async () => {
    const before = await scrape();
    const aside = path.join(root, "bundles-aside");
    await rename(bundlesDir, aside);
    try {
      await reconcile();
      const m = await scrape();
      expect(num(m, "gridiron_source_fetch_errors_total")).toBeGreaterThanOrEqual(num(before, "gridiron_source_fetch_errors_total") + 1);
      expect(num(m, "gridiron_reconciles_total", { outcome: "error" })).toBeGreaterThanOrEqual(num(before, "gridiron_reconciles_total", { outcome: "error" }) + 1);
      expect(num(m, "gridiron_reconcile_errors_total", { code: "SOURCE_MISSING" })).toBeGreaterThanOrEqual(1);
      // Nothing serving was touched: the gauges still show both services.
      expect(num(m, "gridiron_versions", { service: "greeter", state: "serving" })).toBe(1);
    } finally {
      await rename(aside, bundlesDir);
    }
    await reconcile();
    const after = await scrape();
    expect(num(after, "gridiron_seconds_since_last_successful_reconcile")).toBeLessThan(5);
  });
});
