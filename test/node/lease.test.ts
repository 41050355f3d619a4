// The registrar lock on a Kubernetes Lease. No API server runs here (none is installable from npm
// or Debian), so the lock is driven through @kubernetes/client-node against a small stand-in that
// keeps one Lease with the API server's concurrency rule (a write carrying a stale resourceVersion
// answers 409) and its time format. What this does not show: RBAC, a real API server's
// admission and defaults; docs/CLUSTER.md says what was run where.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { kubernetesLeaseApi } from "../../reconciler/node/kubernetes-lease.ts";
import { lockFor } from "../../reconciler/node/registrar-lock.ts";
import { HttpClient } from "../../reconciler/core/http-client.ts";
import { LeaseLock, leaseStep, released, type LeaseRecord } from "../../reconciler/node/lease.ts";

const T0 = Date.parse("2026-12-03T12:00:00Z");
const rec = (over: Partial<LeaseRecord> = {}): LeaseRecord => ({
  holder: "b", durationS: 10, acquireTime: new Date(T0), renewTime: new Date(T0), transitions: 2, resourceVersion: "7", ...over,
});

describe("leaseStep", () => {
  const rows: [string, LeaseRecord | null, number, number, string][] = [
    // name, lease, seenSince, now, expected step
    ["no Lease: create it", null, T0, T0, "create"],
    ["ours: renew", rec({ holder: "a" }), T0, T0 + 60_000, "renew"],
    ["another's, seen for less than its duration: wait", rec(), T0, T0 + 9_999, "wait"],
    ["another's, seen unchanged for exactly its duration: wait", rec(), T0, T0 + 10_000, "wait"],
    ["another's, seen unchanged past its duration: take", rec(), T0, T0 + 10_001, "take"],
    ["released (no holder): take at once", rec({ holder: "" }), T0, T0, "take"],
    ["renewTime far in the past but just seen changing: wait (our clock, not theirs)", rec({ renewTime: new Date(T0 - 3_600_000) }), T0 + 5_000, T0 + 6_000, "wait"],
  ];
  it.each(rows)("%s", (_name, lease, seen, now, want) => {
    expect(leaseStep(lease, seen, now, "a", 10_000).do).toBe(want);
  });

  it("a takeover counts a transition and keeps the resourceVersion it read", () => {
    const s = leaseStep(rec(), T0, T0 + 20_000, "a", 10_000);
    expect(s).toMatchObject({ do: "take", record: { holder: "a", transitions: 3, resourceVersion: "7", acquireTime: new Date(T0 + 20_000) } });
  });

  it("a renewal keeps acquireTime and transitions; the duration is whole seconds, at least 1", () => {
    const s = leaseStep(rec({ holder: "a" }), T0, T0 + 3_000, "a", 2_500);
    expect(s).toMatchObject({ do: "renew", record: { acquireTime: new Date(T0), renewTime: new Date(T0 + 3_000), transitions: 2, durationS: 3 } });
    expect(leaseStep(null, T0, T0, "a", 200)).toMatchObject({ record: { durationS: 1 } });
  });

  it("a released record has no holder", () => {
    expect(released(rec({ holder: "a" }))).toMatchObject({ holder: "", durationS: 1, resourceVersion: "7" });
  });
});

/** One Lease, kept the way the API server keeps it (resourceVersion checks, 404, 409). */
class LeaseStandIn {
  lease: any = null;
  rv = 0;
  bodies: any[] = [];
  server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      const m = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/?]+))?/.exec(req.url ?? "");
      if (!m || m[1] !== "gridiron") return send(404, { kind: "Status", code: 404 });
      const status = (code: number, reason: string) => send(code, { kind: "Status", apiVersion: "v1", status: "Failure", reason, code });
      if (req.method === "GET") return this.lease && m[2] === this.lease.metadata.name ? send(200, this.lease) : status(404, "NotFound");
      const body = JSON.parse(raw);
      this.bodies.push(body);
      if (req.method === "POST") {
        if (this.lease) return status(409, "AlreadyExists");
        this.lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++this.rv) } };
        return send(201, this.lease);
      }
      if (req.method === "PUT") {
        if (!this.lease) return status(404, "NotFound");
        if (body.metadata.resourceVersion !== this.lease.metadata.resourceVersion) return status(409, "Conflict");
        this.lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++this.rv) } };
        return send(200, this.lease);
      }
      return status(405, "MethodNotAllowed");
    });
  });
}

describe("LeaseLock through @kubernetes/client-node", () => {
  const k8s = new LeaseStandIn();
  let kc: KubeConfig;
  let now = T0;
  const clock = () => now;
  const lock = (holder: string) =>
    new LeaseLock({ api: kubernetesLeaseApi({ name: "gridiron-registrar", namespace: "gridiron", kubeConfig: kc }), ttlMs: 5_000, logger: pino({ level: "silent" }), holder, now: clock });

  beforeAll(async () => {
    await new Promise<void>((r) => k8s.server.listen(0, "127.0.0.1", r));
    const port = (k8s.server.address() as AddressInfo).port;
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
  });
  afterAll(() => new Promise<void>((r) => k8s.server.close(() => r())));
  beforeEach(() => {
    k8s.lease = null;
    k8s.bodies = [];
    now = T0;
  });

  it("one registrar holds it; the other takes over only after a full duration without renewal", async () => {
    const a = lock("a");
    const b = lock("b");
    expect((await a.check()).held).toBe(true);
    expect(k8s.lease.spec).toMatchObject({ holderIdentity: "a", leaseDurationSeconds: 5, leaseTransitions: 0 });
    expect(await b.check()).toMatchObject({ held: false, holder: "a" });

    now += 3_000; // a renews within its duration: b still waits
    expect((await a.check()).held).toBe(true);
    now += 4_000;
    expect((await b.check()).held).toBe(false);

    now += 5_001; // a stopped renewing 5 s (b's view) ago: a no longer acts on it, b takes it
    expect(a.current().held).toBe(false);
    expect((await b.check()).held).toBe(true);
    expect(k8s.lease.spec).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
    expect(await a.check()).toMatchObject({ held: false, holder: "b" });
  });

  it("times are written as the API server's MicroTime (six fractional digits)", async () => {
    await lock("a").check();
    expect(k8s.bodies[0].spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(k8s.bodies[0].spec.acquireTime).toMatch(/\.\d{6}Z$/);
  });

  it("two registrars racing for an expired Lease: exactly one gets it (409 for the other)", async () => {
    k8s.lease = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "gridiron-registrar", resourceVersion: "1" }, spec: { holderIdentity: "gone", leaseDurationSeconds: 5 } };
    const a = lock("a");
    const b = lock("b");
    await Promise.all([a.check(), b.check()]); // both see "gone" for the first time
    now += 6_000;
    const [sa, sb] = await Promise.all([a.check(), b.check()]);
    expect([sa.held, sb.held].filter(Boolean)).toHaveLength(1);
    expect(k8s.lease.spec.holderIdentity).toBe(sa.held ? "a" : "b");
  });

  it("a registrar that stops hands the Lease over at once", async () => {
    const a = lock("a");
    const b = lock("b");
    await a.check();
    await b.check();
    await a.release();
    expect(k8s.lease.spec.holderIdentity).toBe("");
    expect((await b.check()).held).toBe(true);
  });

  it("--registrar-lock kubernetes: the lock a registrar builds finds the API server through the kubeconfig and keeps the Lease named", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "gridiron-kube-"));
    const saved = process.env.KUBECONFIG;
    try {
      process.env.KUBECONFIG = path.join(dir, "config");
      await writeFile(process.env.KUBECONFIG, kc.exportConfig());
      const l = await lockFor({ nodeName: "pod-1", registrarLock: "kubernetes", registrarLeaseName: "gridiron/gridiron-registrar", registrarLeaseMs: 5_000, restateIngressUrl: "", host: "127.0.0.1", ingressPort: 1 }, new HttpClient(), pino({ level: "silent" }));
      expect(await l.check()).toMatchObject({ held: true, holder: "pod-1" });
      expect(k8s.lease.spec.holderIdentity).toBe("pod-1");
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("an unreachable API server means not acting, with the reason logged", async () => {
    const dead = new KubeConfig();
    dead.loadFromOptions({ clusters: [{ name: "c", server: "http://127.0.0.1:1", skipTLSVerify: true }], users: [{ name: "u" }], contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
    const l = new LeaseLock({ api: kubernetesLeaseApi({ name: "l", namespace: "gridiron", kubeConfig: dead }), ttlMs: 5_000, logger: pino({ level: "silent" }), holder: "a" });
    expect((await l.check()).held).toBe(false);
  });
});
