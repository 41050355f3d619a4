/**
 * `npx just cluster-up`: the local cluster in the foreground until Ctrl-C. A 3-node Restate
 * cluster (ingress 8080/8180/8280, admin 9070/9170/9270), two Gridiron nodes (role node; APIs
 * 8181 and 8281) behind one workerd address (127.0.0.1:9080 and the cell ports after it: the
 * forwarder here stands in for a Kubernetes Service), and a registrar (role registrar; API 8081,
 * so `npx just status` talks to it). Every Gridiron process watches `bundles/`; the demo services
 * are built there first if missing. State lives under .gridiron/cluster/, kept across starts.
 *
 *   node --import tsx scripts/cluster-up.ts [--cells 4]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cp, mkdir } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import pinoPretty from "pino-pretty";
import { main as buildDemo } from "../reconciler/build/service.ts";
import { REPO_ROOT } from "../reconciler/core/paths.ts";
import { startRestateCluster, type RestateCluster } from "../reconciler/restate/cluster.ts";
import { IDENTITY_DIR, loadOrCreateIdentity } from "../reconciler/restate/identity.ts";
import { startForwarder, type Forwarder } from "./cluster/forwarder.ts";

const { values } = parseArgs({ options: { cells: { type: "string", default: "4" } } });
const CELLS = Number(values.cells);
const ROOT = path.join(REPO_ROOT, ".gridiron", "cluster");
const BIN = path.join(REPO_ROOT, "bin", "gridiron.js");
const SERVICE_PORT = 9080;
const NODES = [{ name: "node1", api: 8181, workerd: 19080 }, { name: "node2", api: 8281, workerd: 29080 }];
const REGISTRAR = { name: "registrar", api: 8081 };

const logger = pino({ level: "info", base: {} }, pinoPretty({ colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname", singleLine: true, sync: true }));
const children: ChildProcess[] = [];
let cluster: RestateCluster | undefined;
let forwarder: Forwarder | undefined;
let stopping = false;

async function stop(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ why }, "stopping the local cluster: registrar, nodes, forwarder, Restate");
  for (const c of [...children].reverse()) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    await exited;
  }
  await forwarder?.close();
  await cluster?.stop();
  process.exit(0);
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));

function gridiron(name: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [BIN, "up"], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      ...process.env,
      GRIDIRON_DATA_DIR: path.join(ROOT, name),
      GRIDIRON_BUNDLES_DIR: path.join(REPO_ROOT, "bundles"),
      GRIDIRON_MANAGE_RESTATE: "false",
      GRIDIRON_INGRESS_PORT: "8080",
      GRIDIRON_ADMIN_PORT: "9070",
      GRIDIRON_CELLS: String(CELLS),
      GRIDIRON_WORKERD_URL: `http://127.0.0.1:${SERVICE_PORT}`,
      GRIDIRON_LOG_FORMAT: "pretty",
      ...env,
    },
  });
  child.once("exit", (code, signal) => {
    if (!stopping) logger.error({ name, code, signal }, "a Gridiron process of the cluster exited");
  });
  children.push(child);
  return child;
}

try {
  if ((await buildDemo(["--all", "--if-missing", "--out", path.join(REPO_ROOT, "bundles")])) !== 0) throw new Error("building the demo services failed");
  // One request identity for the whole cluster: every Restate node signs with it, every node's workerd trusts it.
  const { identity } = await loadOrCreateIdentity(ROOT, (m) => logger.warn(m));
  cluster = await startRestateCluster({ baseDir: path.join(ROOT, "restate"), requestIdentityKeyFile: identity.privateKeyFile, logger });
  for (const n of [...NODES, REGISTRAR]) {
    await mkdir(path.join(ROOT, n.name), { recursive: true });
    await cp(path.join(ROOT, IDENTITY_DIR), path.join(ROOT, n.name, IDENTITY_DIR), { recursive: true, force: true });
  }
  forwarder = await startForwarder({
    listenPorts: Array.from({ length: CELLS }, (_, i) => SERVICE_PORT + i),
    backendPorts: (i) => NODES.map((n) => n.workerd + i),
  });
  for (const n of NODES) gridiron(n.name, { GRIDIRON_ROLE: "node", GRIDIRON_API_PORT: String(n.api), GRIDIRON_WORKERD_PORT: String(n.workerd) });
  gridiron(REGISTRAR.name, {
    GRIDIRON_ROLE: "registrar",
    GRIDIRON_API_PORT: String(REGISTRAR.api),
    GRIDIRON_NODES: NODES.map((n) => `http://127.0.0.1:${n.api}`).join(","),
  });
  logger.info({
    ingress: cluster.nodes.map((n) => n.ingressUrl), admin: cluster.nodes.map((n) => n.adminUrl),
    workerd: `http://127.0.0.1:${SERVICE_PORT} (cells up to :${SERVICE_PORT + CELLS - 1}), forwarded to ${NODES.map((n) => `:${n.workerd}`).join(" and ")}`,
    nodes: NODES.map((n) => `http://127.0.0.1:${n.api}`), registrar: `http://127.0.0.1:${REGISTRAR.api}`,
  }, "local cluster starting; `npx just cluster-status` shows who serves what; Ctrl-C stops everything");
} catch (err) {
  logger.error({ err: (err as Error).message }, "the local cluster could not start");
  await stop("start-up failed");
}
