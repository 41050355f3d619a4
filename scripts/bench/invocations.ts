// Section 1: the same handlers through the same Restate ingress, served by Gridiron/workerd
// (Greeter, Counter) and by the Node SDK peer (NodeGreeter, NodeCounter). Runs alternate
// between the two (A B B A …) so drift over time (page cache, RocksDB compaction) hits both.
import { measureCpu, waitQuiet, type CpuUse, type RoleOf } from "./cpu.ts";
import type { LoadResult } from "./load.ts";
import { runLoad } from "./load.ts";
import { tcpTowards } from "./net.ts";

export interface InvocationCase {
  name: "greet" | "add";
  gridiron: LoadResult[];
  node: LoadResult[];
  /** CPU per process role during each measured run, same order as the runs. */
  cpu: { gridiron: CpuUse[]; node: CpuUse[] };
  /**
   * Restate → endpoint TCP connections per run: open at the end, and closed during the run by
   * either side (new TIME_WAIT sockets on the endpoint's port; a kept-alive pool closes none).
   */
  conns: { gridiron: { established: number; closed: number }[]; node: { established: number; closed: number }[] };
}

export interface InvocationOptions {
  ingressUrl: string;
  connections: number;
  durationS: number;
  warmupS: number;
  rounds: number;
  /** Counter keys are drawn at random from this many fixed keys. */
  keys: number;
  roles: RoleOf;
  /** The port each endpoint listens on: the cell serving each handler's service, the node peer. */
  ports: { gridiron: Record<"greet" | "add", number>; node: number };
  /** Longest wait for the machine to quieten before each measured run (0: do not wait). */
  quietMaxMs: number;
  log: (line: string) => void;
}

const GREET_BODY = '"bench"';

function target(handler: "greet" | "add", peer: "gridiron" | "node", keys: number): { path: () => string; body?: string; verify: (b: string) => boolean } {
  const prefix = peer === "node" ? "Node" : "";
  if (handler === "greet") {
    return { path: () => `/${prefix}Greeter/greet`, body: GREET_BODY, verify: (b) => b.startsWith('"Hello, bench! Greetings from Gridiron') };
  }
  return { path: () => `/${prefix}Counter/k${Math.floor(Math.random() * keys)}/add`, verify: (b) => /^\d+$/.test(b) };
}

export async function measureInvocations(o: InvocationOptions): Promise<InvocationCase[]> {
  const out: InvocationCase[] = [];
  for (const handler of ["greet", "add"] as const) {
    const c: InvocationCase = { name: handler, gridiron: [], node: [], cpu: { gridiron: [], node: [] }, conns: { gridiron: [], node: [] } };
    for (let round = 0; round < o.rounds; round++) {
      const order: ("gridiron" | "node")[] = round % 2 === 0 ? ["gridiron", "node"] : ["node", "gridiron"];
      for (const peer of order) {
        const t = target(handler, peer, o.keys);
        const spec = { url: o.ingressUrl, connections: o.connections, ...t };
        if (o.quietMaxMs > 0) await waitQuiet(o.roles, { maxMs: o.quietMaxMs });
        if (o.warmupS > 0) await runLoad({ ...spec, durationS: o.warmupS });
        const port = peer === "node" ? o.ports.node : o.ports.gridiron[handler];
        const tcp0 = await tcpTowards(port);
        const cpuDone = await measureCpu(o.roles);
        const r = await runLoad({ ...spec, durationS: o.durationS });
        const cpu = await cpuDone();
        const tcp1 = await tcpTowards(port);
        c[peer].push(r);
        c.cpu[peer].push(cpu);
        const closed = Math.max(0, tcp1.timeWait - tcp0.timeWait) + Math.max(0, tcp1.timeWaitServer - tcp0.timeWaitServer);
        c.conns[peer].push({ established: tcp1.established, closed });
        o.log(`  ${handler} ${peer.padEnd(8)} round ${round + 1}: ${Math.round(r.rps)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, failed ${r.errors + r.non2xx + r.mismatches}; cores: ${fmtCpu(cpu)}`);
      }
    }
    out.push(c);
  }
  return out;
}

export function fmtCpu(c: CpuUse): string {
  const parts = Object.entries(c.roles).filter(([, v]) => v >= 0.01).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`);
  return `${parts.join(", ")}, foreign ${c.foreign.toFixed(2)} (machine ${c.total.toFixed(2)})`;
}
