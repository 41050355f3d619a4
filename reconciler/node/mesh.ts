// Composes one node: restate-server, the workerd supervisor, the reconciler, its API, the source's
// watch (folder events or the git fetch interval) and the resync timer. Returns a handle whose
// close() stops everything it started, in reverse order, and is safe to call twice. No signal
// handling here: that belongs to the CLI.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import { isLoopbackHost, loadOrCreateApiToken } from "../api/auth.ts";
import { loadOrCreateIdentity } from "../restate/identity.ts";
import { InvocationWatch } from "../api/invocations.ts";
import { createMetrics } from "../api/metrics.ts";
import { workerdBaseUrl, type Options } from "./options.ts";
import { Reconciler } from "../reconcile/loop.ts";
import { RestateAdmin } from "../restate/admin.ts";
import { RestateServer } from "../restate/server.ts";
import { startApiServer } from "../api/server.ts";
import { createSource } from "../source/index.ts";
import { VersionStore } from "../store/versions.ts";
import type { WorkerdPolicy } from "../workerd/build.ts";
import { Cells } from "../workerd/cells.ts";
import { HttpClient } from "../core/http-client.ts";
import { callableUrl } from "../core/address.ts";
import { RestatePins, nodesServe, systemBundles } from "./cluster.ts";
import { lockFor } from "./registrar-lock.ts";
import { RestateSuspensions } from "./cluster-suspensions.ts";
import { WorkerdProcess } from "../workerd/process.ts";
import { storeSourceMaps } from "../workerd/source-maps.ts";
import { mapStack } from "../workerd/stack.ts";
import { CellWatch } from "./watchdogs.ts";
import { Notifier, readNotifySecret } from "./notify.ts";

export interface Mesh {
  reconciler: Reconciler;
  apiUrl: string;
  close(): Promise<void>;
}

/** A cell's listening socket, bound and handed over by the launcher, and the port it is bound to. */
export interface CellSocket {
  fd: number;
  port: number;
}

/** `sockets` are workerd's listening sockets, one per cell, bound and handed over by the launcher. */
export async function startMesh(o: Readonly<Options>, logger: Logger, sockets: readonly CellSocket[]): Promise<Mesh> {
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      await fn().catch((err) => logger.error({ err }, "error during shutdown"));
    }
  };
  try {
    await mkdir(o.dataDir, { recursive: true });
    // Secrets first: restate-server must sign with the key from its first start on.
    const warn = (message: string) => logger.warn({ component: "security" }, message);
    const { identity, created } = await loadOrCreateIdentity(o.dataDir, warn, o.identityKeyFile || undefined);
    logger.info({ component: "security", publicKey: identity.publicKey, file: identity.publicKeyFile, verified: o.requestIdentity },
      created ? "generated the request identity key pair" : "request identity key loaded");
    if (!o.requestIdentity) warn("--request-identity=false: workerd serves any caller that reaches its port, signed or not");
    else if (!o.manageRestate) warn(`the external restate-server must sign its requests: set request-identity-private-key-pem-file = "${identity.privateKeyFile}" under [worker.invoker]`);
    const apiToken = o.apiToken || (await loadOrCreateApiToken(o.dataDir, warn)).token;
    if (!isLoopbackHost(o.host)) warn(`listening on ${o.host}: other machines can reach workerd (signed requests only), the API (bearer token) and Restate's ingress and admin API, which have no authentication of their own; firewall the admin port`);
    // A managed restate-server listens where we bind it; an external one (a cluster) may be anywhere.
    const ingressUrl = (!o.manageRestate && o.restateIngressUrl) || `http://${o.host}:${o.ingressPort}`;
    const adminUrl = (!o.manageRestate && o.restateAdminUrl) || `http://${o.host}:${o.adminPort}`;
    let restate: RestateServer | undefined;
    if (o.manageRestate) {
      restate = new RestateServer({
        logger, baseDir: join(o.dataDir, "restate"), configFile: o.restateConfig,
        host: o.host, ingressPort: o.ingressPort, adminPort: o.adminPort, nodePort: o.nodePort,
        requestIdentityKeyFile: identity.privateKeyFile,
      });
      const server = restate;
      cleanups.push(() => server.stop());
      await server.start();
    }
    // A node of a cluster may reach Restate's admin API only through the registrar's read-only
    // pass-through (an admin URL with a path, http://<registrar>/restate), which wants the API token.
    const adminHeaders: Record<string, string> = o.apiToken && adminUrl.split(",").some((u) => new URL(u.trim()).pathname.replace(/\/+$/, "") !== "") ? { authorization: `Bearer ${o.apiToken}` } : {};
    const admin = new RestateAdmin(adminUrl, { headers: adminHeaders });
    cleanups.push(async () => admin.close());
    // A node of a cluster may start before Restate or the registrar it reads through: it waits.
    const healthDeadline = Date.now() + (o.role === "node" ? 120_000 : 0);
    while (!(await admin.health())) {
      if (Date.now() >= healthDeadline) throw new Error(`restate-server admin API at ${adminUrl} is not healthy; start it or drop --manage-restate=false`);
      logger.info({ adminUrl }, "waiting for Restate's admin API");
      await new Promise((r) => setTimeout(r, 1000));
    }

    const workerdPolicy: WorkerdPolicy = { identityKeys: o.requestIdentity ? [identity.publicKey] : null, outbound: o.outbound, loadedMax: o.workerdLoadedMax };
    const loader = o.workerdMode === "loader";
    const controlDir = loader ? await makeControlDir(o.dataDir) : undefined;
    if (controlDir !== undefined) cleanups.push(() => rm(controlDir, { recursive: true, force: true }));
    const store = new VersionStore(o.dataDir);
    const cellControlDirs = controlDir === undefined ? [] : sockets.map((_, i) => join(controlDir, `c${i}`));
    for (const dir of cellControlDirs) await mkdir(dir, { recursive: true, mode: 0o700 });
    const processes = sockets.map((s, i) => new WorkerdProcess({
      logger: i === 0 ? logger : logger.child({ cell: i }),
      socket: { fd: s.fd },
      // A lane is static (one version in its config): no control socket, stable features only.
      controlDir: i < o.cells ? cellControlDirs[i] : undefined,
      extraArgs: loader && i < o.cells ? ["--experimental"] : [],
      routerVerifies: o.requestIdentity,
      versionsDir: resolve(store.root),
    }));
    // A registrar serves nothing: its cells are the nodes', at the address Restate reaches them.
    const cellCount = o.role === "registrar" ? o.cells : processes.length;
    const urls = cellUrls(o, Array.from({ length: cellCount }, (_, i) => sockets[i]?.port ?? o.workerdPort + i));
    const cells = new Cells({
      cells: urls.map((url, i) => ({ url, process: processes[i] })),
      dataDir: o.dataDir, store, policy: workerdPolicy, mode: o.workerdMode, versionsDir: resolve(store.root),
      lanes: o.role === "registrar" ? 0 : o.lanes,
    }, logger);
    cleanups.push(() => cells.stop());
    // A watchdog per cell; its own admin client with a short timeout: a kill waits on its query.
    const watchAdmin = new RestateAdmin(adminUrl, { timeoutMs: 2000, headers: adminHeaders });
    cleanups.push(async () => watchAdmin.close());
    const cellWatch = new CellWatch({
      cells, admin: watchAdmin, store, logger,
      limits: { defaults: { hangMs: o.cellHangMs, memoryMb: o.cellMemoryMb }, max: { hangMs: o.cellHangMsMax, memoryMb: o.cellMemoryMbMax } },
    });
    // The loader's disk service must find the store's root from the first generation on.
    await mkdir(store.root, { recursive: true });
    const source = await createSource(o, logger);
    const cluster = o.role !== "all";
    const system = cluster ? await systemBundles(o.dataDir) : undefined;
    const peers = new HttpClient();
    cleanups.push(async () => peers.close());
    const nodes = o.nodes.split(",").map((u) => u.trim().replace(/\/$/, "")).filter(Boolean);
    if (o.role === "registrar" && nodes.length === 0) throw new Error("--role registrar needs --nodes: the API URLs of the nodes that must serve a version before it is registered");
    const registrarLock = o.role === "registrar" ? await lockFor(o, peers, logger) : undefined;
    if (registrarLock) {
      registrarLock.start();
      cleanups.push(() => registrarLock.release());
    }
    // Before the reconciler, so it is closed after it: the last pass's events still go out.
    const notifier = o.notifyUrl ? new Notifier({ url: o.notifyUrl, secret: o.notifySecretFile ? await readNotifySecret(o.notifySecretFile) : undefined, node: o.nodeName || hostname(), logger }) : undefined;
    if (notifier) cleanups.push(() => notifier.close());
    const reconciler = new Reconciler({
      logger, source, admin, cells,
      role: o.role,
      system,
      registrarLock,
      pins: cluster ? new RestatePins({ ingressUrl: o.restateIngressUrl || callableUrl(o.host, o.ingressPort), http: peers, writable: o.role === "registrar" }) : undefined,
      suspensions: cluster ? new RestateSuspensions({ ingressUrl: o.restateIngressUrl || callableUrl(o.host, o.ingressPort), http: peers }) : undefined,
      pokeNodes: () => {
        for (const url of nodes) void peers.request(`${url}/reconcile`, { method: "POST", headers: o.apiToken ? { authorization: `Bearer ${o.apiToken}` } : {}, timeoutMs: 60_000 }).catch(() => undefined);
      },
      nodesServe: o.role === "registrar" ? () => nodesServe(nodes, peers, o.apiToken ? { authorization: `Bearer ${o.apiToken}` } : {}) : undefined,
      store,
      ingressUrl,
      dataDir: o.dataDir,
      workerdPolicy,
      signRequest: (path) => identity.sign(path),
      restatePid: () => restate?.pid,
      restateKeepAlive: o.restateKeepAlive,
      limits: { maxFileBytes: o.maxFileBytes, maxFiles: o.maxFiles, maxTotalBytes: o.maxBundleBytes },
      validateTimeoutMs: o.validateTimeoutMs,
      lifecycle: { graceMs: o.drainGraceMs, deadlineMs: o.drainDeadlineMs > 0 ? o.drainDeadlineMs : null, retain: o.retain },
      faults: { record: cellWatch.record, health: (cell) => cellWatch.health(cell) },
    });
    cleanups.push(() => reconciler.close());
    notifier?.follow(reconciler);
    restate?.on("restart", () => void reconciler.reconcile("restate-server restarted"));
    // Its own admin client with a short timeout: status waits on its query, a pass never does.
    const troubleAdmin = new RestateAdmin(adminUrl, { timeoutMs: 3000, headers: adminHeaders });
    cleanups.push(async () => troubleAdmin.close());
    const storedMaps = storeSourceMaps(resolve(store.root));
    const invocations = new InvocationWatch(troubleAdmin, { mapStack: (stack) => mapStack(stack, storedMaps) });
    // Before the first pass and the first swap, so the counters see every one of them.
    const metrics = createMetrics({ reconciler, workerd: processes, invocations, watchdogs: cellWatch.watchdogs, notifications: notifier });
    cleanups.push(async () => metrics.close());
    await reconciler.start();
    // After the first generations listen; stopped before anything else shuts down, so no kill races the stop.
    cellWatch.start((why) => void reconciler.reconcile(why));
    cleanups.push(async () => cellWatch.stop());

    const api = await startApiServer(reconciler, { host: o.host, port: o.apiPort, logger, webhookSecret: o.webhookSecret || undefined, metrics, apiToken: o.requireApiToken ? apiToken : undefined, invocations, restate: admin });
    cleanups.push(() => api.close());

    // Watch before the first pass: a change made while it runs queues another pass instead of
    // waiting for the resync timer.
    const stopWatch = await source.watch((reason) => {
      logger.debug({ component: "source", reason }, "desired state may have changed");
      void reconciler.reconcile(`change: ${reason}`);
    });
    cleanups.push(stopWatch);
    await reconciler.reconcile("startup");
    const timer = setInterval(() => void reconciler.reconcile("resync"), o.resyncMs);
    cleanups.push(async () => clearInterval(timer));

    logger.info({ ingress: ingressUrl, admin: adminUrl, workerd: workerdBaseUrl(o), api: api.url, source: `${source.kind} ${source.location}`, data: o.dataDir }, "gridiron is up");
    if (notifier && !o.notifySecretFile) logger.warn({ component: "notify" }, "notifications go out unsigned: set --notify-secret-file");
    if (source.kind === "git" && !o.webhookSecret) logger.warn({ component: "api" }, "POST /hooks/git accepts unsigned requests: set GRIDIRON_WEBHOOK_SECRET");
    let closing: Promise<void> | undefined;
    return { reconciler, apiUrl: api.url, close: () => (closing ??= close()) };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Loader mode: a private directory for each workerd generation's control socket. Under the data
 * dir (emptied first: sockets of a daemon that was killed), unless that path is too long for a
 * unix socket (107 bytes with "/g<N>.sock"); then a fresh one in the system temp dir.
 */
async function makeControlDir(dataDir: string): Promise<string> {
  const dir = join(resolve(dataDir), "workerd", "control");
  if (Buffer.byteLength(dir) + "/c00/g000000.sock".length > 107) return mkdtemp(join(tmpdir(), "gridiron-ctl-"));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/**
 * Base URL of each cell as Restate reaches it: --workerd-url (a Service in front of every node)
 * with its port + i, or this machine's host with each cell's own port.
 */
export function cellUrls(o: Pick<Options, "host" | "workerdUrl">, ports: readonly number[]): string[] {
  if (!o.workerdUrl) return ports.map((p) => `http://${o.host}:${p}`);
  const base = new URL(o.workerdUrl);
  const first = Number(base.port || (base.protocol === "https:" ? 443 : 80));
  return ports.map((_, i) => {
    const u = new URL(base);
    u.port = String(first + i);
    return u.origin;
  });
}
