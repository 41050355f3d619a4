// Notifications (--notify-url): every pass's events (notify-events.ts) are POSTed as JSON to one
// URL, signed like GitHub's webhooks (X-Hub-Signature-256, api/webhook.ts), so a receiver that
// checks our own POST /hooks/git can check these the same way. Delivery never touches a pass: the
// pass listener only derives events and queues them; one worker sends them in order, with a
// timeout per request and a few retries with backoff on a network error, 408, 429 or 5xx. A full
// queue drops new events; every outcome is logged and counted (gridiron_notifications_total).
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import { signHubBody } from "../api/webhook.ts";
import { GridironError } from "../core/errors.ts";
import type { ReconcileResult, Status } from "../reconcile/status.ts";
import { deriveEvents, scopeOf, type NotifyEvent, type NotifySeen } from "./notify-events.ts";

export type { NotifyEvent };

/** What a receiver gets: the event's fields beside who sent it, when, and an id unique per event. */
export type Notification = NotifyEvent & { id: string; time: string; node: string };

export const DELIVERY_RESULTS = ["delivered", "failed", "dropped"] as const;
export type DeliveryResult = (typeof DELIVERY_RESULTS)[number];

export interface NotifierOptions {
  url: string;
  /** HMAC-SHA256 key of X-Hub-Signature-256; without one, requests go unsigned. */
  secret?: string;
  /** Named in every notification. */
  node: string;
  logger: Logger;
  /** Events waiting to be sent at most; more are dropped. */
  queueSize?: number;
  /** Tries per event, the first included. */
  attempts?: number;
  /** Wait before the first retry, doubled for each next one. */
  backoffMs?: number;
  timeoutMs?: number;
}

const DEFAULTS = { queueSize: 100, attempts: 4, backoffMs: 1000, timeoutMs: 5000 };
/** How long close() lets queued notifications go out before it drops them. */
const CLOSE_GRACE_MS = 2000;

/** The secret of --notify-secret-file: the file's content without its trailing newline. */
export async function readNotifySecret(file: string): Promise<string> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new GridironError("SECRET_FILE_UNREADABLE", `--notify-secret-file ${file} cannot be read (${err.code ?? err.message})`, { file });
  });
  const secret = text.replace(/[\r\n]+$/, "");
  if (secret === "") throw new GridironError("CONFIG_INVALID", `--notify-secret-file ${file} is empty: put the HMAC secret the receiver checks in it`, { file });
  return secret;
}

/** The URL as logs show it: without user info, query or fragment, which may carry credentials. */
export function shownUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** What follow() needs of the reconciler: its passes, and status after each. */
export interface PassSource {
  on(event: "pass", fn: (r: ReconcileResult) => void): unknown;
  off(event: "pass", fn: (r: ReconcileResult) => void): unknown;
  status(): Status;
}

const retryable = (status: number | undefined): boolean => status === undefined || status === 408 || status === 429 || status >= 500;

export class Notifier extends EventEmitter<{ delivery: [{ result: DeliveryResult; type: string }] }> {
  readonly #o: Required<Omit<NotifierOptions, "secret">> & { secret?: string };
  readonly #log: Logger;
  readonly #shown: string;
  readonly #queue: Notification[] = [];
  readonly #abort = new AbortController();
  #worker: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #seen: NotifySeen | undefined;
  #detach: (() => void) | undefined;

  constructor(o: NotifierOptions) {
    super();
    this.#o = { ...DEFAULTS, ...o };
    this.#shown = shownUrl(o.url);
    this.#log = o.logger.child({ component: "notify" });
  }

  /** From now on, sends the events of every pass of `reconciler`. */
  follow(reconciler: PassSource): void {
    const onPass = (r: ReconcileResult) => {
      try {
        const status = reconciler.status();
        const { events, seen } = deriveEvents(this.#seen, r, status, scopeOf(status));
        this.#seen = seen;
        for (const e of events) this.send(e);
      } catch (err) {
        this.#log.error({ err }, "could not derive the notifications of a pass");
      }
    };
    reconciler.on("pass", onPass);
    this.#detach = () => reconciler.off("pass", onPass);
  }

  /** Queues one event; returns at once. */
  send(event: NotifyEvent): Notification | undefined {
    const n: Notification = { ...event, id: randomUUID(), time: new Date().toISOString(), node: this.#o.node };
    if (this.#closing || this.#queue.length >= this.#o.queueSize) {
      this.#log.warn({ url: this.#shown, type: n.type, id: n.id, queued: this.#queue.length }, this.#closing ? "notification dropped: shutting down" : "notification dropped: the queue is full");
      this.emit("delivery", { result: "dropped", type: n.type });
      return undefined;
    }
    this.#queue.push(n);
    this.#worker ??= this.#run().finally(() => (this.#worker = undefined));
    return n;
  }

  async #run(): Promise<void> {
    for (let n = this.#queue.shift(); n; n = this.#queue.shift()) {
      if (this.#abort.signal.aborted) {
        this.#log.warn({ url: this.#shown, type: n.type, id: n.id }, "notification dropped: shutting down");
        this.emit("delivery", { result: "dropped", type: n.type });
        continue;
      }
      await this.#deliver(n);
    }
  }

  async #deliver(n: Notification): Promise<void> {
    const body = JSON.stringify(n);
    const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "gridiron", "x-gridiron-event": n.type, "x-gridiron-delivery": n.id };
    if (this.#o.secret) headers["x-hub-signature-256"] = signHubBody(this.#o.secret, body);
    for (let attempt = 1; ; attempt++) {
      let status: number | undefined;
      let error: string | undefined;
      try {
        const res = await fetch(this.#o.url, {
          method: "POST", headers, body, redirect: "manual",
          signal: AbortSignal.any([AbortSignal.timeout(this.#o.timeoutMs), this.#abort.signal]),
        });
        status = res.status;
        await res.body?.cancel().catch(() => undefined);
        if (status >= 200 && status < 300) {
          this.#log.debug({ url: this.#shown, type: n.type, id: n.id, status, attempt }, "notification delivered");
          this.emit("delivery", { result: "delivered", type: n.type });
          return;
        }
      } catch (err) {
        error = describe(err, this.#o.timeoutMs);
      }
      if (!retryable(status) || attempt >= this.#o.attempts || this.#closing) {
        this.#log.warn({ url: this.#shown, type: n.type, id: n.id, status, error, attempts: attempt }, "notification not delivered");
        this.emit("delivery", { result: "failed", type: n.type });
        return;
      }
      const waitMs = this.#o.backoffMs * 2 ** (attempt - 1);
      this.#log.debug({ url: this.#shown, type: n.type, id: n.id, status, error, attempt, waitMs }, "notification not delivered; retrying");
      await sleep(waitMs, this.#abort.signal);
    }
  }

  /** Stops following; what is queued may go out for CLOSE_GRACE_MS, without retries. Safe to call twice. */
  close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    this.#closing ??= (async () => {
      this.#detach?.();
      const timer = setTimeout(() => this.#abort.abort(), graceMs);
      await this.#worker;
      clearTimeout(timer);
    })();
    return this.#closing;
  }
}

/** fetch() says "fetch failed" and keeps the reason (ECONNREFUSED, a bad certificate…) in its cause. */
function describe(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError") return `timed out after ${timeoutMs} ms`;
  return e.cause ? `${e.message}: ${e.cause.code ?? e.cause.message}` : e.message;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    timer.unref();
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
