// restatectl, Restate's cluster administration tool (npm @restatedev/restatectl, a native binary):
// it talks to the nodes' fabric port, where the cluster's own state lives (nodes, partitions and
// their leaders, logs), none of which the admin API's SQL shows.
import { execFile } from "node:child_process";
import { GridironError } from "../core/errors.ts";
import { restateNativeBin } from "./server.ts";

const TIMEOUT_MS = 30_000;

export interface RestatectlOutput {
  stdout: string;
  stderr: string;
}

/**
 * Runs restatectl with `args`. It exits 0 on most failures (they are printed on stderr), so the
 * caller reads the output; only a failure to run it at all rejects.
 */
export function restatectl(args: string[], opts: { timeoutMs?: number } = {}): Promise<RestatectlOutput> {
  // RESTATECTL_ADDRESS and friends from a dev shell must not redirect it.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("RESTATE")) env[k] = v;
  const bin = restateNativeBin("restatectl");
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, timeout: opts.timeoutMs ?? TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { killed?: boolean }) | null;
      if (e && (typeof e.code === "string" || e.killed)) {
        reject(new GridironError("RESTATE_UNREACHABLE", `restatectl ${args.join(" ")} could not run: ${e.message}`, { bin }, { cause: err }));
        return;
      }
      resolve({ stdout, stderr: stderr || (e ? e.message : "") });
    });
  });
}

/** Rows of a query over the cluster's own tables (nodes, partition_state, logs…). */
export async function clusterSql<Row = Record<string, unknown>>(addresses: readonly string[], query: string): Promise<Row[]> {
  const { stdout, stderr } = await restatectl(["--address", addresses.join(","), "sql", "--jsonl", query]);
  const lines = stdout.split("\n").filter((l) => l.trim() !== "");
  if (lines.length === 0 && /error|failed/i.test(stderr)) {
    throw new GridironError("RESTATE_UNREACHABLE", `restatectl sql through ${addresses.join(", ")} failed: ${stderr.trim()}`, { query });
  }
  return lines.map((l) => JSON.parse(l) as Row);
}

/** How many partitions each node (by node name) leads right now. */
export async function partitionLeaders(addresses: readonly string[]): Promise<Record<string, number>> {
  const rows = await clusterSql<{ name: string; led: number }>(addresses,
    "SELECT n.name AS name, count(*) AS led FROM partition_state p JOIN nodes n ON p.plain_node_id = n.plain_node_id "
    + "WHERE p.effective_mode = 'Leader' GROUP BY n.name");
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.led)]));
}
