// What each restate-server of a local cluster is told: one TOML file per node, pure so it can be
// table-tested. Every node runs every role; the log and the metadata are replicated between them,
// and nothing happens until `restatectl provision` (auto-provision off, so two nodes started at the
// same moment cannot each found a cluster of their own).
import { stringify } from "smol-toml";

export interface ClusterNodePorts {
  ingress: number;
  admin: number;
  /** Node-to-node (fabric) port: metadata, log replication, restatectl. */
  node: number;
}

/** The development cluster's ports: node i adds 100·i to the single-node defaults. */
export const DEV_CLUSTER_PORTS: readonly ClusterNodePorts[] = Object.freeze([0, 1, 2].map((i) => Object.freeze({
  ingress: 8080 + 100 * i,
  admin: 9070 + 100 * i,
  node: 5122 + 100 * i,
})));

export const CLUSTER_ROLES = ["metadata-server", "admin", "worker", "log-server", "http-ingress"] as const;

export interface ClusterLayout {
  clusterName: string;
  host: string;
  nodes: readonly ClusterNodePorts[];
  /** Copies of every log record and every partition's state (Restate's default-replication). */
  replication: number;
  partitions: number;
  /** Ed25519 PEM key every node signs requests to deployments with: the same file for all. */
  requestIdentityKeyFile?: string;
  /** RocksDB memory of one node; Restate's default (2 GiB) is sized for a node per machine. */
  rocksdbTotalMemory: string;
  /**
   * Where partition snapshots go (an object store URL such as s3://bucket/prefix). Without one
   * Restate cannot trim its logs in a cluster; restate-server 1.7 has no local-file destination.
   */
  snapshotsDestination?: string;
}

export const nodeName = (i: number): string => `n${i + 1}`;

export function nodeUrl(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** The config file of node `i`; `baseDir` is where its data lives. */
export function clusterNodeConfig(layout: ClusterLayout, i: number, baseDir: string): string {
  const me = layout.nodes[i];
  if (!me) throw new RangeError(`no node ${i} in a cluster of ${layout.nodes.length}`);
  const h = layout.host;
  const bind = (port: number) => `${h.includes(":") ? `[${h}]` : h}:${port}`;
  const config: Record<string, unknown> = {
    "cluster-name": layout.clusterName,
    "node-name": nodeName(i),
    roles: [...CLUSTER_ROLES],
    "auto-provision": false,
    "default-replication": layout.replication,
    "default-num-partitions": layout.partitions,
    "base-dir": baseDir,
    // TCP only: otherwise restate-server also opens unix sockets under base-dir.
    "listen-mode": "tcp",
    "bind-address": bind(me.node),
    "advertised-address": `${nodeUrl(h, me.node)}/`,
    "disable-telemetry": true,
    "log-format": "compact",
    "log-disable-ansi-codes": true,
    "log-filter": "warn,restate=info",
    "rocksdb-total-memory-size": layout.rocksdbTotalMemory,
    "metadata-client": { addresses: layout.nodes.map((n) => `${nodeUrl(h, n.node)}/`) },
    bifrost: { "default-provider": "replicated" },
    admin: { "bind-address": bind(me.admin), "advertised-admin-endpoint": `${nodeUrl(h, me.admin)}/` },
    ingress: { "bind-address": bind(me.ingress), "advertised-ingress-endpoint": `${nodeUrl(h, me.ingress)}/` },
  };
  const worker: Record<string, unknown> = {};
  if (layout.requestIdentityKeyFile) worker.invoker = { "request-identity-private-key-pem-file": layout.requestIdentityKeyFile };
  if (layout.snapshotsDestination) worker.snapshots = { destination: layout.snapshotsDestination, "snapshot-interval-num-records": 10_000 };
  if (Object.keys(worker).length > 0) config.worker = worker;
  return `# Written by Gridiron's local Restate cluster (reconciler/restate/cluster.ts) on every start.\n${stringify(config)}\n`;
}

/** restatectl's arguments that found the cluster (run once against any node's fabric port). */
export function provisionArgs(layout: ClusterLayout, nodeIndex = 0): string[] {
  const me = layout.nodes[nodeIndex]!;
  return [
    "--address", `${nodeUrl(layout.host, me.node)}/`,
    "provision",
    "--log-provider", "replicated",
    "--replication", String(layout.replication),
    "--num-partitions", String(layout.partitions),
    "--yes",
  ];
}

/** What restatectl printed means the cluster is provisioned (now or before); it exits 0 either way. */
export function provisionSucceeded(stdout: string): boolean {
  return /successfully provisioned|provisioned by somebody else/i.test(stdout);
}
