// The registrar lock as a Kubernetes Lease (coordination.k8s.io/v1), for registrars that run in
// Kubernetes: the same rules as client-go's leader election, so the Lease reads the same in
// `kubectl get lease` as any controller's. Writes are guarded by the Lease's resourceVersion (the
// API server refuses a write based on a stale read), so two registrars never both take it.
//
// Expiry is judged on our own clock: a Lease is free once we have seen the same record, unchanged,
// for longer than its duration (as client-go does), never by comparing its renewTime with our
// clock, which may be skewed from the holder's.
import type { Logger } from "pino";
import type { LockState } from "../reconcile/deps.ts";
import { SYSTEM_BUNDLE, defaultHolder, logLockChange } from "./cluster.ts";

/** What Gridiron reads and writes of a Lease. */
export interface LeaseRecord {
  holder: string;
  durationS: number;
  acquireTime: Date | null;
  renewTime: Date | null;
  transitions: number;
  /** The API server's version of the object, for optimistic concurrency; null before it exists. */
  resourceVersion: string | null;
}

/** The three calls the lock makes; `replace` answers "conflict" when the record changed since it was read. */
export interface LeaseApi {
  read(): Promise<LeaseRecord | null>;
  create(r: LeaseRecord): Promise<LeaseRecord | "conflict">;
  replace(r: LeaseRecord): Promise<LeaseRecord | "conflict">;
}

export type LeaseStep =
  | { do: "create" | "renew" | "take"; record: LeaseRecord }
  | { do: "wait"; holder: string };

/**
 * What a registrar named `me` does with the Lease it read (`lease`, null when there is none),
 * given when it first saw that exact record (`seenSince`) and the time now. Pure.
 */
export function leaseStep(lease: LeaseRecord | null, seenSince: number, now: number, me: string, ttlMs: number): LeaseStep {
  const durationS = Math.max(1, Math.ceil(ttlMs / 1000));
  const at = new Date(now);
  if (!lease) return { do: "create", record: { holder: me, durationS, acquireTime: at, renewTime: at, transitions: 0, resourceVersion: null } };
  if (lease.holder === me) return { do: "renew", record: { ...lease, durationS, renewTime: at, acquireTime: lease.acquireTime ?? at } };
  const free = lease.holder === "" || now - seenSince > lease.durationS * 1000;
  if (!free) return { do: "wait", holder: lease.holder };
  return { do: "take", record: { ...lease, holder: me, durationS, acquireTime: at, renewTime: at, transitions: lease.transitions + 1 } };
}

/** The record a holder writes when it stops: free at once for the next registrar. */
export function released(lease: LeaseRecord): LeaseRecord {
  return { ...lease, holder: "", durationS: 1 };
}

/**
 * The registrar lock on a Lease. Renewed in the background at a third of its duration; held, as
 * far as this registrar acts on it, only until its own clock from before the last successful
 * write passes the duration, so it stops acting before another can take over.
 */
export class LeaseLock {
  readonly holder: string;
  readonly #api: LeaseApi;
  readonly #ttlMs: number;
  readonly #log: Logger;
  readonly #what: string;
  readonly #now: () => number;
  #state: LockState = { held: false, missing: false, service: SYSTEM_BUNDLE };
  #validUntil = 0;
  #renewAt = 0;
  #seen: { rv: string | null; holder: string; since: number } | undefined;
  #last: LeaseRecord | null = null;
  #timer: NodeJS.Timeout | undefined;
  #turn: Promise<void> | undefined;

  constructor(o: { api: LeaseApi; ttlMs: number; logger: Logger; holder?: string; what?: string; now?: () => number }) {
    this.#api = o.api;
    this.#ttlMs = o.ttlMs;
    this.#what = o.what ?? "lease";
    this.#log = o.logger.child({ component: "registrar", lease: this.#what });
    this.#now = o.now ?? Date.now;
    this.holder = o.holder ?? defaultHolder();
  }

  start(): void {
    this.#timer = setInterval(() => void this.#acquire(), Math.max(200, Math.floor(this.#ttlMs / 3)));
    this.#timer.unref();
  }

  /** Whether this registrar may act now, renewing first when a renewal is due. */
  async check(): Promise<LockState> {
    if (!this.#state.held || this.#now() >= this.#renewAt) await this.#acquire();
    return this.current();
  }

  /** What is known now, without asking. */
  current(): LockState {
    return { ...this.#state, held: this.#state.held && this.#now() <= this.#validUntil };
  }

  async release(): Promise<void> {
    clearInterval(this.#timer);
    await this.#turn;
    if (!this.#state.held || !this.#last) return;
    this.#state = { ...this.#state, held: false };
    await this.#api.replace(released(this.#last)).catch(() => undefined);
  }

  /** One attempt; concurrent callers share it, so the background renewal and a pass never race each other. */
  #acquire(): Promise<void> {
    this.#turn ??= this.#attempt().finally(() => { this.#turn = undefined; });
    return this.#turn;
  }

  async #attempt(): Promise<void> {
    const asked = this.#now();
    try {
      const lease = await this.#api.read();
      if (lease && (this.#seen?.rv !== lease.resourceVersion || this.#seen.holder !== lease.holder)) {
        this.#seen = { rv: lease.resourceVersion, holder: lease.holder, since: asked };
      }
      const step = leaseStep(lease, this.#seen?.since ?? asked, asked, this.holder, this.#ttlMs);
      if (step.do === "wait") {
        this.#last = lease;
        this.#set({ held: false, missing: false, service: SYSTEM_BUNDLE, holder: step.holder });
        return;
      }
      const wrote = step.do === "create" ? await this.#api.create(step.record) : await this.#api.replace(step.record);
      if (wrote === "conflict") {
        // Another registrar wrote between our read and our write: it holds the Lease now.
        this.#set({ held: false, missing: false, service: SYSTEM_BUNDLE, holder: null });
        return;
      }
      this.#last = wrote;
      this.#seen = { rv: wrote.resourceVersion, holder: wrote.holder, since: asked };
      this.#validUntil = asked + this.#ttlMs;
      this.#renewAt = asked + Math.floor(this.#ttlMs / 3);
      this.#set({ held: true, missing: false, service: SYSTEM_BUNDLE, holder: this.holder });
    } catch (err) {
      this.#set({ ...this.#state, held: false, missing: false });
      this.#log.warn({ err: (err as Error).message }, `registrar ${this.#what} unreachable; not acting until it answers`);
    }
  }

  #set(next: LockState): void {
    logLockChange(this.#log, this.#state, next, this.holder);
    this.#state = next;
  }
}
