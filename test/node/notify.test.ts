// The notification sender against a small HTTP receiver on loopback: what a request carries and
// that its signature verifies (and fails with another secret), retries, refusals, timeouts, the
// queue's bound, shutdown, and the metric.
import { EventEmitter } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createMetrics, type MetricsSources } from "../../reconciler/api/metrics.ts";
import { verifyHubSignature } from "../../reconciler/api/webhook.ts";
import { resolveOptions } from "../../reconciler/node/options.ts";
import { Notifier, readNotifySecret, shownUrl, type DeliveryResult, type NotifierOptions } from "../../reconciler/node/notify.ts";
import type { ReconcileResult, Status } from "../../reconciler/reconcile/status.ts";

const SECRET = "notify-secret";

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A receiver whose answer to the n-th request (from 0) is `answer(n, res)`; returns the requests it got. */
async function receiver(answer: (n: number, res: ServerResponse) => void = (_n, res) => res.writeHead(204).end()): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      answer(got.length - 1, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/gridiron`, got, server };
}

const servers: Server[] = [];
const notifiers: Notifier[] = [];
afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((n) => n.close(0)));
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A notifier whose log lines and delivery results are collected. */
function notifier(o: Partial<NotifierOptions> & { url: string }): { n: Notifier; logs: Record<string, unknown>[]; results: DeliveryResult[] } {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { logs.push(JSON.parse(chunk.toString())); cb(); } });
  const n = new Notifier({ secret: SECRET, node: "node-a", logger: pino({ level: "debug" }, sink), backoffMs: 20, timeoutMs: 2000, ...o });
  const results: DeliveryResult[] = [];
  n.on("delivery", (d) => results.push(d.result));
  notifiers.push(n);
  return { n, logs, results };
}

async function until<T>(what: string, probe: () => T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const DEPLOY = { type: "deploy", service: "greeter", version: "v2", from: "v1", weight: 100 } as const;

describe("Notifier", () => {
  it("POSTs the event as signed JSON with its id, time and node; the signature fails with another secret or body", async () => {
    const r = await receiver();
    const { n, results } = notifier({ url: r.url });
    const sent = n.send(DEPLOY)!;
    await until("a delivery", () => results[0]);
    expect(results).toEqual(["delivered"]);
    const [req] = r.got as [Received];
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers["x-gridiron-event"]).toBe("deploy");
    expect(req.headers["x-gridiron-delivery"]).toBe(sent.id);
    const body = JSON.parse(req.body.toString()) as Record<string, unknown>;
    expect(body).toEqual({ ...DEPLOY, id: sent.id, time: sent.time, node: "node-a" });
    expect(Date.parse(body["time"] as string)).not.toBeNaN();
    const signature = req.headers["x-hub-signature-256"];
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyHubSignature(SECRET, req.body, signature)).toBe(true);
    expect(verifyHubSignature("another-secret", req.body, signature)).toBe(false);
    expect(verifyHubSignature(SECRET, Buffer.from(req.body.toString().replace("v2", "v3")), signature)).toBe(false);
  });

  it("gives every event its own id", async () => {
    const r = await receiver();
    const { n, results } = notifier({ url: r.url });
    n.send(DEPLOY);
    n.send(DEPLOY);
    await until("two deliveries", () => (results.length === 2 ? true : undefined));
    const ids = r.got.map((g) => g.headers["x-gridiron-delivery"]);
    expect(new Set(ids).size).toBe(2);
  });

  it("sends no signature without a secret", async () => {
    const r = await receiver();
    const { n, results } = notifier({ url: r.url, secret: undefined });
    n.send(DEPLOY);
    await until("a delivery", () => results[0]);
    expect(r.got[0]!.headers["x-hub-signature-256"]).toBeUndefined();
  });

  it("retries a 5xx with backoff, the same notification each time, until it is taken", async () => {
    const r = await receiver((i, res) => res.writeHead(i < 2 ? 503 : 200).end());
    const { n, results } = notifier({ url: r.url });
    n.send(DEPLOY);
    await until("a delivery", () => results[0]);
    expect(results).toEqual(["delivered"]);
    expect(r.got).toHaveLength(3);
    expect(new Set(r.got.map((g) => g.body.toString())).size).toBe(1);
  });

  it("gives up on a 4xx at once, and after its attempts on a 5xx; logs the URL without its query, and the status", async () => {
    const r = await receiver((i, res) => res.writeHead(i === 0 ? 400 : 500).end());
    const { n, logs, results } = notifier({ url: `${r.url}?token=hush`, attempts: 3 });
    n.send(DEPLOY);
    n.send({ ...DEPLOY, version: "v3" });
    await until("two outcomes", () => (results.length === 2 ? true : undefined));
    expect(results).toEqual(["failed", "failed"]);
    expect(r.got).toHaveLength(1 + 3);
    const failures = logs.filter((l) => l["msg"] === "notification not delivered");
    expect(failures.map((l) => [l["status"], l["attempts"]])).toEqual([[400, 1], [500, 3]]);
    expect(failures[0]!["url"]).toBe(r.url);
    expect(JSON.stringify(logs)).not.toContain("hush");
  });

  it("times out a receiver that does not answer, and says so", async () => {
    const r = await receiver(() => undefined);
    const { n, logs, results } = notifier({ url: r.url, attempts: 2, timeoutMs: 100 });
    n.send(DEPLOY);
    await until("an outcome", () => results[0]);
    expect(results).toEqual(["failed"]);
    expect(r.got).toHaveLength(2);
    expect(logs.find((l) => l["msg"] === "notification not delivered")!["error"]).toBe("timed out after 100 ms");
  });

  it("counts an unreachable receiver as failed with the reason", async () => {
    const r = await receiver();
    const url = r.url;
    r.server.close();
    const { n, logs, results } = notifier({ url, attempts: 2 });
    n.send(DEPLOY);
    await until("an outcome", () => results[0]);
    expect(results).toEqual(["failed"]);
    expect(logs.find((l) => l["msg"] === "notification not delivered")!["error"]).toMatch(/ECONNREFUSED/);
  });

  it("send() never waits: a slow receiver fills the bounded queue and new events are dropped", async () => {
    const held: ServerResponse[] = [];
    const r = await receiver((_i, res) => held.push(res));
    const { n, results } = notifier({ url: r.url, queueSize: 2 });
    const started = performance.now();
    const sent = [1, 2, 3, 4].map((i) => n.send({ ...DEPLOY, version: `v${i}` }));
    expect(performance.now() - started).toBeLessThan(50);
    // The first is in flight, two wait, the fourth finds the queue full.
    expect(sent.map((s) => s !== undefined)).toEqual([true, true, true, false]);
    expect(results).toEqual(["dropped"]);
    await until("the first request", () => held[0]);
    for (let i = 0; i < 3; i++) {
      const res = await until(`request ${i + 1}`, () => held[i]);
      res.writeHead(204).end();
    }
    await until("every outcome", () => (results.length === 4 ? true : undefined));
    expect(results.sort()).toEqual(["delivered", "delivered", "delivered", "dropped"]);
  });

  it("close() stops following, lets the queue go out within its grace, then drops the rest; safe twice", async () => {
    const r = await receiver(() => undefined);
    const { n, results } = notifier({ url: r.url, timeoutMs: 60_000 });
    const reconciler = fakeReconciler();
    n.follow(reconciler);
    n.send(DEPLOY);
    n.send(DEPLOY);
    const t0 = performance.now();
    await Promise.all([n.close(100), n.close(100)]);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(results.sort()).toEqual(["dropped", "failed"]);
    expect(reconciler.listenerCount("pass")).toBe(0);
    expect(n.send(DEPLOY)).toBeUndefined();
  });

  it("follows a reconciler: a pass that deployed a version sends a deploy event", async () => {
    const r = await receiver();
    const { n, results } = notifier({ url: r.url });
    const reconciler = fakeReconciler([{ service: "greeter", conditions: [], versions: [], serving: "v1" }]);
    n.follow(reconciler);
    reconciler.emit("pass", { ...PASS, deployed: [{ service: "greeter", version: "v1" }], revision: "bundles" });
    await until("a delivery", () => results[0]);
    expect(JSON.parse(r.got[0]!.body.toString())).toMatchObject({ type: "deploy", service: "greeter", version: "v1", weight: 100, revision: "bundles", node: "node-a" });
  });

  it("counts deliveries in gridiron_notifications_total by result", async () => {
    const r = await receiver((i, res) => res.writeHead(i === 0 ? 204 : 400).end());
    const { n, results } = notifier({ url: r.url });
    const metrics = createMetrics({ reconciler: fakeReconciler() as unknown as MetricsSources["reconciler"], workerd: [], notifications: n }, { defaultMetrics: false });
    n.send(DEPLOY);
    n.send(DEPLOY);
    await until("two outcomes", () => (results.length === 2 ? true : undefined));
    const text = await metrics.scrape();
    metrics.close();
    expect(text).toContain('gridiron_notifications_total{result="delivered"} 1');
    expect(text).toContain('gridiron_notifications_total{result="failed"} 1');
    expect(text).toContain('gridiron_notifications_total{result="dropped"} 0');
  });
});

const PASS: ReconcileResult = { id: 1, trigger: "test", startedAt: "2026-01-01T00:00:00.000Z", durationMs: 1, outcome: "ok", actions: [], deployed: [], errors: [] };

function fakeReconciler(services: Status["services"] = []) {
  const status: Status = {
    source: { kind: "folder", location: "bundles" }, workerd: { url: "http://127.0.0.1:1", generation: 0, mode: "loader" },
    restate: { ingressUrl: "", adminUrl: "" }, services, history: [],
  };
  return Object.assign(new EventEmitter<{ pass: [ReconcileResult] }>(), { status: () => status });
}

describe("readNotifySecret, shownUrl and the options", () => {
  it("reads the secret without its trailing newline, and refuses a missing or empty file", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "gridiron-notify-"));
    try {
      await writeFile(path.join(dir, "s"), "s3cret \n");
      await writeFile(path.join(dir, "empty"), "\n");
      expect(await readNotifySecret(path.join(dir, "s"))).toBe("s3cret ");
      await expect(readNotifySecret(path.join(dir, "empty"))).rejects.toMatchObject({ code: "CONFIG_INVALID" });
      await expect(readNotifySecret(path.join(dir, "missing"))).rejects.toMatchObject({ code: "SECRET_FILE_UNREADABLE", message: expect.stringContaining("ENOENT") });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("options: --notify-url must be http(s); --notify-secret-file is resolved from the working directory", () => {
    expect(() => resolveOptions({ "notify-url": "ftp://example.com/x" }, {}, "/srv")).toThrow(/--notify-url .*http:\/\/ or https:\/\//);
    expect(() => resolveOptions({ "notify-url": "not a url" }, {}, "/srv")).toThrow(/--notify-url/);
    const o = resolveOptions({ "notify-url": "https://hooks.example.com/g", "notify-secret-file": "secrets/notify" }, {}, "/srv");
    expect([o.notifyUrl, o.notifySecretFile]).toEqual(["https://hooks.example.com/g", "/srv/secrets/notify"]);
    expect(resolveOptions({}, {}, "/srv").notifyUrl).toBe("");
  });

  it("logs a URL without user info, query or fragment", () => {
    expect(shownUrl("https://user:pw@hooks.example.com:8443/a/b?token=x#f")).toBe("https://hooks.example.com:8443/a/b");
  });
});
