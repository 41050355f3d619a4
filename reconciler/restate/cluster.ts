// A local Restate cluster: N restate-server nodes on one machine, provisioned with restatectl, for
// development and tests of Gridiron beyond one node. In production the same shape runs as a
// Kubernetes StatefulSet (deploy/kubernetes/); here every node is a child process we started, and
// only those are ever signalled (by pid, through their ChildProcess).
import path from "node:path";
import type { Logger } from "pino";
import { GridironError } from "../core/errors.ts";
import { RestateAdmin } from "./admin.ts";
import {
  DEV_CLUSTER_PORTS, clusterNodeConfig, nodeName, provisionArgs, provisionSucceeded,
  type ClusterLayout, type ClusterNodePorts,
} from "./cluster-config.ts";
import { ClusterNode, listening } from "./cluster-node.ts";
import { restatectl } from "./restatectl.ts";

export { DEV_CLUSTER_PORTS, type ClusterNodePorts };

export interface RestateClusterOptions {
  /** Each node keeps its config, log and data in `<baseDir>/<node name>/`; reused on the next start. */
  baseDir: string;
  host?: string;
  /** One entry per node; default DEV_CLUSTER_PORTS (3 nodes: ingress 8080/8180/8280, …). */
  nodes?: readonly ClusterNodePorts[];
  clusterName?: string;
  /** Default 2: one node of three may be down without losing a write. */
  replication?: number;
  partitions?: number;
  /** Ed25519 PEM key file every node signs requests to deployments with. */
  requestIdentityKeyFile?: string;
  rocksdbTotalMemory?: string;
  snapshotsDestination?: string;
  /** How long start() and restartNode() wait for readiness; default 120 s. */
  readyTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace when stopping a node; default 20 s. */
  stopTimeoutMs?: number;
  /** How long a port still held (TIME_WAIT after a recent stop) is waited for; default 75 s. */
  portWaitMs?: number;
  logger?: Logger;
  /** Aborts start-up (Ctrl-C while it waits): the nodes started so far are stopped again. */
  signal?: AbortSignal;
}

export interface RestateClusterNode {
  readonly name: string;
  readonly ingressUrl: string;
  readonly adminUrl: string;
  /** Fabric address, `http://host:port/`. */
  readonly nodeUrl: string;
  readonly nodePort: number;
  /** The running restate-server's pid; undefined while the node is down. */
  readonly pid: number | undefined;
  readonly logFile: string;
}

export interface RestateCluster {
  readonly nodes: readonly RestateClusterNode[];
  /** SIGTERM, then SIGKILL after the grace; the node stays down until restartNode. */
  stopNode(i: number): Promise<void>;
  /** SIGKILL: a crash. The node stays down until restartNode. */
  killNode(i: number): Promise<void>;
  /** Starts a stopped node on its data and resolves once it answers and sees every partition. */
  restartNode(i: number): Promise<void>;
  /** Resolves once node i's admin and ingress are healthy and its SQL reaches every partition. */
  waitNodeReady(i: number, timeoutMs?: number): Promise<void>;
  /** Stops every node (in parallel). Safe to call twice. */
  stop(): Promise<void>;
}

const POLL_MS = 100;
const PORT_RETRY_MS = 2000;

/**
 * Starts the nodes, provisions the cluster (a no-op for a base dir provisioned before) and
 * resolves once every node is ready. On failure every node it started is stopped again.
 */
export async function startRestateCluster(opts: RestateClusterOptions): Promise<RestateCluster> {
  const layout: ClusterLayout = {
    clusterName: opts.clusterName ?? "gridiron",
    host: opts.host ?? "127.0.0.1",
    nodes: opts.nodes ?? DEV_CLUSTER_PORTS,
    replication: opts.replication ?? 2,
    partitions: opts.partitions ?? 4,
    requestIdentityKeyFile: opts.requestIdentityKeyFile ? path.resolve(opts.requestIdentityKeyFile) : undefined,
    rocksdbTotalMemory: opts.rocksdbTotalMemory ?? "512 MiB",
    snapshotsDestination: opts.snapshotsDestination,
  };
  if (layout.nodes.length < layout.replication) {
    throw new GridironError("RESTATE_START", `a cluster of ${layout.nodes.length} node(s) cannot keep ${layout.replication} copies; add nodes or lower the replication`);
  }
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 20_000;
  const portWaitMs = opts.portWaitMs ?? 75_000;
  const log = opts.logger?.child({ component: "restate-cluster" });
  const baseDir = path.resolve(opts.baseDir);
  const nodes = layout.nodes.map((ports, i) => new ClusterNode({
    name: nodeName(i), host: layout.host, ports, dir: path.join(baseDir, nodeName(i)),
  }));

  const launch = async (node: ClusterNode, deadline: number): Promise<void> => {
    const portDeadline = Date.now() + portWaitMs;
    for (let attempt = 1; ; attempt++) {
      await node.spawn();
      // The fabric port listens before the cluster is provisioned; that is all a launch waits for.
      while (!(await listening(layout.host, node.ports.node))) {
        if (!node.running) break;
        opts.signal?.throwIfAborted();
        if (Date.now() > deadline) {
          await node.kill();
          throw new GridironError("RESTATE_START", `restate node ${node.name} did not listen on ${node.nodeUrl} in time:\n${await node.tail()}`, { node: node.name, log: node.logFile });
        }
        await sleep(POLL_MS);
      }
      if (node.running) return;
      if (await node.failedOnAddressInUse() && Date.now() < portDeadline) {
        log?.warn({ node: node.name, attempt }, "a port of this node is still held (TIME_WAIT after a recent stop?); retrying");
        await sleep(PORT_RETRY_MS);
        continue;
      }
      throw new GridironError("RESTATE_START", `restate node ${node.name} exited during start-up:\n${await node.tail()}`, { node: node.name, log: node.logFile });
    }
  };

  const waitNodeReady = async (i: number, timeoutMs = readyTimeoutMs): Promise<void> => {
    const node = nodeAt(nodes, i);
    const deadline = Date.now() + timeoutMs;
    const admin = new RestateAdmin(node.adminUrl, { timeoutMs: 5000 });
    try {
      // /health answers before the partitions run; SQL over sys_invocation_status fans out to
      // every partition, so it answers once each has a leader this node can reach.
      while (!(await admin.health()) || !(await ingressHealthy(node.ingressUrl))
        || !(await admin.query("SELECT id FROM sys_invocation_status LIMIT 1").then(() => true, () => false))) {
        opts.signal?.throwIfAborted();
        if (!node.running) {
          throw new GridironError("RESTATE_START", `restate node ${node.name} exited before it was ready:\n${await node.tail()}`, { node: node.name, log: node.logFile });
        }
        if (Date.now() > deadline) {
          throw new GridironError("RESTATE_START", `restate node ${node.name} not ready after ${timeoutMs} ms (admin ${node.adminUrl}, ingress ${node.ingressUrl}):\n${await node.tail()}`, { node: node.name, log: node.logFile });
        }
        await sleep(POLL_MS);
      }
    } finally {
      admin.close();
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= Promise.all(nodes.map((n) => n.stop(stopTimeoutMs))).then(() => log?.info("restate cluster stopped"));
    return stopping;
  };

  try {
    const deadline = Date.now() + readyTimeoutMs;
    await Promise.all(nodes.map((n, i) => n.writeConfig(clusterNodeConfig(layout, i, n.dir))));
    log?.info({ nodes: nodes.map((n) => n.name), baseDir }, "starting restate cluster");
    // Settle every launch before failing: one still spawning after stop() would be left running.
    const launched = await Promise.allSettled(nodes.map((n) => launch(n, deadline)));
    const failed = launched.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    await provision(layout, nodes, deadline, opts.signal);
    log?.info({ replication: layout.replication, partitions: layout.partitions }, "restate cluster provisioned");
    await Promise.all(nodes.map((_, i) => waitNodeReady(i, Math.max(1000, deadline - Date.now()))));
    log?.info("restate cluster ready");
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    nodes: nodes.map((n) => ({
      name: n.name,
      ingressUrl: n.ingressUrl,
      adminUrl: n.adminUrl,
      nodeUrl: n.nodeUrl,
      nodePort: n.ports.node,
      get pid() {
        return n.pid;
      },
      logFile: n.logFile,
    })),
    stopNode: (i) => nodeAt(nodes, i).stop(stopTimeoutMs),
    killNode: (i) => nodeAt(nodes, i).kill(),
    async restartNode(i) {
      const node = nodeAt(nodes, i);
      if (stopping) throw new GridironError("RESTATE_START", `the cluster is stopping; node ${node.name} is not restarted`);
      await launch(node, Date.now() + readyTimeoutMs);
      await waitNodeReady(i);
      log?.info({ node: node.name, pid: node.pid }, "restate node rejoined");
    },
    waitNodeReady,
    stop,
  };
}

function nodeAt(nodes: ClusterNode[], i: number): ClusterNode {
  const node = nodes[i];
  if (!node) throw new RangeError(`no restate node ${i} (the cluster has ${nodes.length})`);
  return node;
}

/** restatectl provision, retried until the nodes answer; restatectl exits 0 even when it failed. */
async function provision(layout: ClusterLayout, nodes: ClusterNode[], deadline: number, signal: AbortSignal | undefined): Promise<void> {
  for (;;) {
    const { stdout, stderr } = await restatectl(provisionArgs(layout));
    if (provisionSucceeded(stdout)) return;
    signal?.throwIfAborted();
    const dead = nodes.find((n) => !n.running);
    if (dead) throw new GridironError("RESTATE_START", `restate node ${dead.name} exited before the cluster was provisioned:\n${await dead.tail()}`, { node: dead.name, log: dead.logFile });
    if (Date.now() > deadline) {
      throw new GridironError("RESTATE_START", `restatectl could not provision the cluster through ${nodes[0]!.nodeUrl}: ${(stderr || stdout).trim()}`, { args: provisionArgs(layout).join(" ") });
    }
    await sleep(500);
  }
}

async function ingressHealthy(ingressUrl: string): Promise<boolean> {
  const res = await fetch(`${ingressUrl}/restate/health`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
  await res?.body?.cancel().catch(() => undefined);
  return res?.ok ?? false;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
