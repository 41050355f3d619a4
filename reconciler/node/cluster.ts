// What a Gridiron process needs to take part in a cluster: the registrar's view of what every Ready
// node serves (asked over each node's API), the registrar lock (kept in Restate: the GridironLock
// virtual object, served by every node like any bundle), and that lock's bundle, built once.
import { randomBytes } from "node:crypto";
import { lookup } from "node:dns/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { buildService } from "../build/service.ts";
import type { HttpClient } from "../core/http-client.ts";
import type { LockState } from "../reconcile/deps.ts";
import type { Status } from "../reconcile/status.ts";
import type { Pin, PinStore } from "../store/pins.ts";
import { DEFAULT_LIMITS, readBundle, type Bundle } from "../source/bundle.ts";

/** The bundle (Gridiron service name) of Gridiron's own services, and the objects in it. */
export const SYSTEM_BUNDLE = "gridiron-system";
const LOCK_OBJECT = "GridironLock";
const LOCK_KEY = "registrar";
const PINS_OBJECT = "GridironPins";
const PINS_KEY = "cluster";
const SYSTEM_SERVICES = fileURLToPath(new URL("../build/system/", import.meta.url));

/** One handler call on a Gridiron system object (lock, pins, suspensions) through Restate's ingress. */
export function callSystemObject(http: HttpClient, ingressUrl: string, object: string, key: string, handler: string, body?: unknown) {
  return http.request(`${ingressUrl}/${object}/${key}/${handler}`, {
    method: "POST",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs: 5000,
  });
}

/**
 * Builds the system bundle (lock and pins) into `<dataDir>/system/`. The build is deterministic, so every node of
 * one checkout gets the same bytes and the same version id.
 */
export async function systemBundles(dataDir: string): Promise<Bundle[]> {
  const out = join(dataDir, "system");
  await buildService(SYSTEM_BUNDLE, out, { servicesDir: SYSTEM_SERVICES });
  return [await readBundle(join(out, SYSTEM_BUNDLE), DEFAULT_LIMITS)];
}

/**
 * What every Ready node serves, key → cell. A node that does not answer is not Ready and does not
 * count; a version that two Ready nodes serve in different cells counts as served by neither.
 * No Ready node: nothing is served.
 */
export async function nodesServe(nodes: readonly string[], http: HttpClient, headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const views: Map<string, number>[] = [];
  const urls = (await Promise.all(nodes.map(expandNodes))).flat();
  if (urls.length === 0) return new Map();
  await Promise.all(urls.map(async (url) => {
    try {
      const r = await http.request(`${url}/status`, { headers, timeoutMs: 2000 });
      if (r.status !== 200) return;
      const s = JSON.parse(r.text) as Status;
      views.push(new Map((s.workerd.cells ?? []).flatMap((c) => c.versions.map((k) => [k, c.index] as const))));
    } catch {
      /* not Ready */
    }
  }));
  if (views.length === 0) return new Map();
  const [first, ...rest] = views;
  return new Map([...first!].filter(([k, cell]) => rest.every((v) => v.get(k) === cell)));
}

/**
 * `dns+http://name:port` stands for every address `name` resolves to, asked anew each time: a
 * Kubernetes headless Service lists exactly the Ready pods behind it. Other entries are URLs.
 */
export async function expandNodes(entry: string): Promise<string[]> {
  if (!entry.startsWith("dns+")) return [entry];
  const url = new URL(entry.slice(4));
  const addrs = await lookup(url.hostname, { all: true }).catch(() => []);
  return addrs.map((a) => `${url.protocol}//${a.family === 6 ? `[${a.address}]` : a.address}${url.port ? `:${url.port}` : ""}`);
}

/** A registrar's name in the lock when --node-name gives none: unique per process. */
export const defaultHolder = (): string => `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;

/** Logs a registrar lock's change of holder, or of whether this registrar (`me`) holds it. */
export function logLockChange(log: Logger, prev: LockState, next: LockState, me: string): void {
  if (next.held === prev.held && next.holder === prev.holder) return;
  log.info({ holder: next.holder ?? null, me, held: next.held }, next.held ? "registrar lock held: this registrar acts" : "registrar lock not held: standing by");
}

/**
 * The registrar lock, through Restate's ingress. Renewed in the background at a third of its
 * lease, so a registrar that dies is replaced within one lease.
 */
export class RegistrarLock {
  readonly holder: string;
  readonly #ingressUrl: string;
  readonly #ttlMs: number;
  readonly #http: HttpClient;
  readonly #log: Logger;
  #state: LockState = { held: false, missing: false, service: SYSTEM_BUNDLE };
  #validUntil = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: { ingressUrl: string; ttlMs: number; http: HttpClient; logger: Logger; holder?: string }) {
    this.#ingressUrl = o.ingressUrl;
    this.#ttlMs = o.ttlMs;
    this.#http = o.http;
    this.#log = o.logger.child({ component: "registrar" });
    this.holder = o.holder ?? defaultHolder();
  }

  start(): void {
    this.#timer = setInterval(() => void this.#acquire(), Math.max(200, Math.floor(this.#ttlMs / 3)));
    this.#timer.unref();
  }

  /** Whether this registrar may act now (acquiring or renewing when needed). */
  async check(): Promise<LockState> {
    if (!this.#state.held || Date.now() > this.#validUntil) await this.#acquire();
    return { ...this.#state, held: this.#state.held && Date.now() <= this.#validUntil };
  }

  /** What is known now, without asking (the background renewal keeps it fresh). */
  current(): LockState {
    return { ...this.#state, held: this.#state.held && Date.now() <= this.#validUntil };
  }

  /** Hands the lock over at once (a registrar that stops). */
  async release(): Promise<void> {
    clearInterval(this.#timer);
    if (!this.#state.held) return;
    await this.#call("release", { holder: this.holder }).catch(() => undefined);
    this.#state = { ...this.#state, held: false };
  }

  async #acquire(): Promise<void> {
    const asked = Date.now();
    try {
      const r = await this.#call("acquire", { holder: this.holder, ttlMs: this.#ttlMs });
      if (r.status === 404 || /not found|NotFound/i.test(r.status >= 400 ? r.text : "")) {
        this.#set({ held: false, missing: true, service: SYSTEM_BUNDLE, holder: null });
        return;
      }
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.text.slice(0, 200)}`);
      const lease = JSON.parse(r.text) as { held: boolean; holder: string | null };
      // Our own clock from before the call bounds the lease conservatively.
      if (lease.held) this.#validUntil = asked + this.#ttlMs;
      this.#set({ held: lease.held, missing: false, service: SYSTEM_BUNDLE, holder: lease.holder });
    } catch (err) {
      this.#set({ ...this.#state, held: false, missing: false });
      this.#log.warn({ err: (err as Error).message }, "registrar lock unreachable; not acting until it answers");
    }
  }

  #set(next: LockState): void {
    logLockChange(this.#log, this.#state, next, this.holder);
    this.#state = next;
  }

  #call(handler: string, body: unknown) {
    return callSystemObject(this.#http, this.#ingressUrl, LOCK_OBJECT, LOCK_KEY, handler, body);
  }
}

/**
 * Rollback pins kept in Restate (GridironPins), so every node lays the same pins over the source
 * as the registrar. A node only reads them; a failed read keeps the pins last read, so a
 * Restate hiccup never releases a rollback.
 */
export class RestatePins implements PinStore {
  readonly #ingressUrl: string;
  readonly #http: HttpClient;
  readonly #writable: boolean;
  #pins = new Map<string, Pin>();

  constructor(o: { ingressUrl: string; http: HttpClient; writable: boolean }) {
    this.#ingressUrl = o.ingressUrl;
    this.#http = o.http;
    this.#writable = o.writable;
  }

  async load(): Promise<void> {
    const r = await this.#call("all", undefined).catch(() => undefined);
    if (r?.status === 200) this.#pins = new Map(Object.entries(JSON.parse(r.text) as Record<string, Pin>));
  }

  entries(): [string, Pin][] {
    return [...this.#pins];
  }

  async set(service: string, pin: Pin): Promise<void> {
    const r = await this.#call("set", { service, pin });
    if (r.status !== 200) throw new Error(`GridironPins/set answered ${r.status}: ${r.text.slice(0, 200)}`);
    this.#pins.set(service, pin);
  }

  async delete(service: string): Promise<void> {
    if (!this.#pins.delete(service) || !this.#writable) return;
    await this.#call("delete", { service }).catch(() => undefined);
  }

  #call(handler: string, body: unknown) {
    return callSystemObject(this.#http, this.#ingressUrl, PINS_OBJECT, PINS_KEY, handler, body);
  }
}
