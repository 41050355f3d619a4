// One greeter deploy as a user makes it: a new bundle (same code, a new GREETING var in
// gridiron.json, so a new content-addressed version) swapped into the watched folder the way
// reconciler/build/service.ts does it (old bundle renamed aside, new one renamed in, old one deleted),
// then Restate ingress polled every few ms until the new text answers. The reconciler's JSON log
// says where the time went: watcher → pass start → stored → validated → workerd swapped →
// registered → first answer.
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { BenchMesh, LogEvent, MeshLog } from "./mesh.ts";

export interface DeployTiming {
  n: number;
  greeting: string;
  /** When the bundle was renamed into place, ms since epoch (lines it up with the log). */
  writtenAt: number;
  /** Bundle renamed into place → first answer by the new version, ms. */
  totalMs: number;
  /** Ingress calls made while polling that failed (non-2xx or connection error). */
  pollErrors: number;
  /** Filled in by explain() from the reconciler's log. */
  version?: string;
  liveVersions?: number;
  /** What started the pass that picked the bundle up ("change: …" from the folder watcher, "drain" poll, …). */
  trigger?: string;
  breakdown?: Breakdown;
}

/** ms spent in each stage; stages a pass did not log are left out. */
export interface Breakdown {
  /** Write → the reconcile pass that picked the bundle up started (watcher stability + debounce, or a running pass). */
  untilPass?: number;
  /** Pass start → work on the new version began (reading every bundle in the source, Restate's deployment list and drain query, the store). */
  gather?: number;
  /** Validation on a scratch workerd (start it, /discover, Restate dry-run registration), as the reconciler timed it. */
  validate?: number;
  /** Materialising the version in the store (write, fsync, rename). */
  store?: number;
  /** Validated and stored → the new workerd generation serves (config encode + write, spawn, listen). */
  swap?: number;
  /** workerd generation start-up alone (swap call → the new generation listening). */
  handover?: number;
  /** Swapped → registered with Restate (Restate calls /discover, stores the new schema). */
  register?: number;
  /** Registered → the first answer seen with the new text (ingress picks up the new deployment + poll interval). */
  visible?: number;
}

/** Copies a built bundle into `dir` (which exists) with its gridiron.json changed by `edit`. */
export async function copyTemplate(template: string, dir: string, edit: (manifest: Record<string, unknown> & { vars?: Record<string, string> }) => void): Promise<void> {
  for (const f of await readdir(template)) if (f !== "gridiron.json") await copyFile(path.join(template, f), path.join(dir, f));
  const manifest = JSON.parse(await readFile(path.join(template, "gridiron.json"), "utf8")) as Record<string, unknown> & { vars?: Record<string, string> };
  edit(manifest);
  await writeFile(path.join(dir, "gridiron.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}

export class GreeterDeployer {
  readonly #mesh: BenchMesh;
  /** A built greeter bundle (reconciler/build/service.ts) used as the template. */
  readonly #template: string;
  readonly #pollMs: number;
  #n = 0;

  constructor(mesh: BenchMesh, templateDir: string, opts: { pollMs?: number } = {}) {
    this.#mesh = mesh;
    this.#template = templateDir;
    this.#pollMs = opts.pollMs ?? 10;
  }

  async deploy(label: string): Promise<DeployTiming> {
    const n = ++this.#n;
    const greeting = `${label}${n}`;
    const bundles = this.#mesh.bundlesDir;
    const suffix = `${label}${n}-${randomBytes(4).toString("hex")}`;
    const tmp = path.join(bundles, `.greeter.bench-${suffix}`);
    await mkdir(tmp);
    // The template's manifest with the new greeting (other vars, e.g. RESTATE_LOGGING, kept).
    await copyTemplate(this.#template, tmp, (m) => {
      m.vars = { ...m.vars, GREETING: greeting };
    });
    const old = path.join(bundles, `.greeter.old-${suffix}`);
    await rename(path.join(bundles, "greeter"), old);
    const writtenAt = Date.now();
    const t0 = performance.now();
    await rename(tmp, path.join(bundles, "greeter"));
    // Deleted right away, as build-service does. (Kept around instead, the swap goes unnoticed by
    // the folder watcher about half the time; see the report's notes.)
    await rm(old, { recursive: true, force: true });
    let pollErrors = 0;
    const want = `"${greeting}, bench!`;
    for (;;) {
      const started = performance.now();
      const r = await this.#mesh.http.request(`${this.#mesh.ingressUrl}/Greeter/greet`, {
        method: "POST", headers: { "content-type": "application/json" }, body: '"bench"', timeoutMs: 30_000,
      }).catch(() => undefined);
      if (!r || r.status !== 200) pollErrors++;
      else if (r.text.startsWith(want)) break;
      if (performance.now() - t0 > 120_000) throw new Error(`greeter ${greeting} did not answer within 120 s`);
      const wait = this.#pollMs - (performance.now() - started);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
    const totalMs = performance.now() - t0;
    return { n, greeting, writtenAt, totalMs, pollErrors };
  }
}

/**
 * Attributes each deploy's time to stages using the log: the pass that stored a greeter version
 * after the write. Call after the reconciler settled (the pass's last lines are in the log).
 */
export async function explain(log: MeshLog, deploys: DeployTiming[]): Promise<void> {
  if (deploys.length === 0) return;
  const events = await log.events(Math.min(...deploys.map((d) => d.writtenAt)) - 1000);
  const reconciler = events.filter((e) => e.component === "reconciler" && typeof e.pass === "number");
  for (const d of deploys) {
    const at = d.writtenAt;
    const stored = reconciler.find((e) => e.msg === "version stored" && e.service === "greeter" && e.time >= at);
    if (!stored) continue;
    const pass = stored.pass;
    const of = (msg: string, pred: (e: LogEvent) => boolean = () => true) => reconciler.find((e) => e.pass === pass && e.msg === msg && pred(e));
    const started = of("reconcile pass started");
    const validated = of("version validated", (e) => e.service === "greeter");
    // Loader mode changes the live set in place (updateMs); static mode starts a generation (handoverMs).
    const swapped = of("workerd config swapped") ?? of("workerd live set updated");
    const registered = of("version registered: new calls reach it", (e) => e.service === "greeter");
    const answered = at + d.totalMs;
    d.version = stored.version as string;
    d.liveVersions = typeof swapped?.versions === "number" ? swapped.versions : undefined;
    if (typeof started?.trigger === "string") d.trigger = started.trigger.replace(/^(change): (\w+) .*\/([^/]+)$/, "$1: $2 $3");
    const b: Breakdown = {};
    if (started) b.untilPass = started.time - at;
    // Newer reconcilers validate before storing; earlier ones stored first (then gather and
    // store cannot be told apart and `gather` holds both).
    const vMs = typeof validated?.ms === "number" ? validated.ms : undefined;
    if (vMs !== undefined) b.validate = vMs;
    if (validated && validated.time <= stored.time) {
      if (started) b.gather = Math.max(0, validated.time - (vMs ?? 0) - started.time);
      b.store = stored.time - validated.time;
    } else if (started) {
      b.gather = stored.time - started.time;
    }
    const ready = Math.max(stored.time, validated?.time ?? 0);
    if (swapped) b.swap = swapped.time - ready;
    const serveMs = swapped?.handoverMs ?? swapped?.updateMs;
    if (typeof serveMs === "number") b.handover = serveMs;
    if (swapped && registered) b.register = registered.time - swapped.time;
    if (registered) b.visible = answered - registered.time;
    d.breakdown = b;
  }
}
