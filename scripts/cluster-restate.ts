/**
 * `npx just cluster-restate`: a 3-node Restate cluster on loopback in the foreground, provisioned
 * with restatectl, until Ctrl-C. Node i listens on ingress 8080+100·i, admin 9070+100·i and fabric
 * 5122+100·i. Data, configs and logs stay in the base dir, so the next start finds the same
 * cluster (already provisioned, deployments and state intact).
 *
 *   node --import tsx scripts/cluster-restate.ts [--base-dir .gridiron/cluster/restate]
 *        [--identity-key <private.pem>] [--host 127.0.0.1]
 *
 * Without --identity-key the nodes sign requests to deployments with the key in
 * <base dir>/../identity/private.pem, generated on first start (the same file Gridiron nodes of
 * the local cluster are given, so workerd accepts what any Restate node sends).
 */
import path from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import pinoPretty from "pino-pretty";
import { GridironError } from "../reconciler/core/errors.ts";
import { startRestateCluster, type RestateCluster } from "../reconciler/restate/cluster.ts";
import { IDENTITY_DIR, PRIVATE_KEY_FILE, loadOrCreateIdentity } from "../reconciler/restate/identity.ts";

const { values } = parseArgs({
  options: {
    "base-dir": { type: "string", default: ".gridiron/cluster/restate" },
    "identity-key": { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
  },
});

const logger = pino({ level: "info", base: {} }, pinoPretty({ colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname", singleLine: true, sync: true }));
const baseDir = path.resolve(values["base-dir"]!);

let identityKey = values["identity-key"];
if (!identityKey) {
  const root = path.dirname(baseDir);
  await loadOrCreateIdentity(root, (m) => logger.warn(m));
  identityKey = path.join(root, IDENTITY_DIR, PRIVATE_KEY_FILE);
}

const abort = new AbortController();
let cluster: RestateCluster | undefined;
const stop = async (signal: string): Promise<void> => {
  if (abort.signal.aborted) return;
  logger.info({ signal }, "stopping the Restate cluster");
  abort.abort();
  // Still starting: the start-up below sees the abort, stops its nodes and exits.
  if (!cluster) return;
  await cluster.stop();
  process.exit(0);
};
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));

try {
  cluster = await startRestateCluster({ baseDir, host: values.host, requestIdentityKeyFile: identityKey, logger, signal: abort.signal });
} catch (err) {
  // Stopped while starting: startRestateCluster has already stopped what it started.
  if (abort.signal.aborted) process.exit(0);
  console.error(`cluster-restate: ${(err as Error).message}`);
  if (err instanceof GridironError) console.error(`hint: ${err.hint}`);
  process.exit(1);
}

const shown = (file: string) => (path.relative(process.cwd(), file).startsWith("..") ? file : path.relative(process.cwd(), file));
console.log("\nRestate cluster ready (Ctrl-C stops it):");
for (const n of cluster.nodes) {
  console.log(`  ${n.name}  ingress ${n.ingressUrl}  admin ${n.adminUrl}  fabric ${n.nodeUrl}  pid ${n.pid}  log ${shown(n.logFile)}`);
}
console.log(`  request identity key: ${shown(identityKey)}`);
console.log(`  restatectl: npx restatectl --address ${cluster.nodes[0]!.nodeUrl} status\n`);
