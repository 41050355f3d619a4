// CPU accounting from /proc: how many cores each of our processes used during a measurement, and
// how much the rest of the machine used ("foreign": other people's builds and tests share this
// 2-core box, and a throughput figure taken while they ran is not worth much).
import { readFile } from "node:fs/promises";
import { processesUnder } from "../../test/helpers/mesh.ts";

/** Kernel clock ticks per second (USER_HZ); 100 on every Linux this runs on. */
const HZ = 100;

async function machineBusy(): Promise<number> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: busy = all but idle and iowait
  return f.reduce((a, b) => a + b, 0) - (f[3] ?? 0) - (f[4] ?? 0);
}

async function processTicks(pid: number): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the ")" that ends the command name; utime and stime are fields 14 and 15.
    const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return undefined;
  }
}

export interface CpuUse {
  seconds: number;
  /** Cores used per role (1.0 = one core busy the whole time). */
  roles: Record<string, number>;
  /** Cores used by everything else on the machine. */
  foreign: number;
  /** Cores the whole machine used. */
  total: number;
}

export type RoleOf = () => Promise<Map<number, string>>;

/** Other processes using more than this many cores during a measurement make its verdict one a rerun may flip. */
export const NOISY_CORES = 0.3;

/** Roles of the processes of a mesh (`dataDir`) plus extra named pids. */
export function meshRoles(dataDir: string, extra: Record<string, number> = {}): RoleOf {
  return async () => {
    const out = new Map<number, string>([[process.pid, "bench (autocannon)"]]);
    for (const [role, pid] of Object.entries(extra)) out.set(pid, role);
    for (const p of await processesUnder(dataDir)) {
      if (out.has(p.pid)) continue;
      const role = p.cmd.includes("__daemon")
        ? "gridiron daemon"
        : p.cmd.includes("restate-server")
          ? "restate-server"
          : /workerd serve/.test(p.cmd)
            ? "workerd"
            : p.cmd.includes("gridiron.js up")
              ? "gridiron launcher"
              : "mesh other";
      out.set(p.pid, role);
    }
    return out;
  };
}

/** Starts counting; the returned function stops and reports. Processes must live through the window. */
export async function measureCpu(rolesOf: RoleOf): Promise<() => Promise<CpuUse>> {
  const pids = await rolesOf();
  const t0 = performance.now();
  const busy0 = await machineBusy();
  const ticks0 = new Map<number, number>();
  for (const pid of pids.keys()) {
    const t = await processTicks(pid);
    if (t !== undefined) ticks0.set(pid, t);
  }
  return async () => {
    const busy1 = await machineBusy();
    const seconds = (performance.now() - t0) / 1000;
    const roles: Record<string, number> = {};
    let ours = 0;
    for (const [pid, before] of ticks0) {
      const after = await processTicks(pid);
      if (after === undefined) continue;
      const role = pids.get(pid)!;
      const cores = (after - before) / HZ / seconds;
      roles[role] = (roles[role] ?? 0) + cores;
      ours += cores;
    }
    const total = (busy1 - busy0) / HZ / seconds;
    return { seconds, roles, foreign: Math.max(0, total - ours), total };
  };
}

/**
 * Waits (up to `maxMs`) until the rest of the machine has used less than `threshold` cores over
 * a one-second window, so a measurement does not start in the middle of someone else's build.
 * Returns the foreign load of the last window and how long it waited.
 */
export async function waitQuiet(rolesOf: RoleOf, opts: { threshold?: number; maxMs?: number } = {}): Promise<{ foreign: number; waitedMs: number }> {
  const threshold = opts.threshold ?? 0.3;
  const t0 = performance.now();
  for (;;) {
    const done = await measureCpu(rolesOf);
    await new Promise((r) => setTimeout(r, 1000));
    const { foreign } = await done();
    const waitedMs = performance.now() - t0;
    if (foreign < threshold || waitedMs >= (opts.maxMs ?? 15_000)) return { foreign, waitedMs };
  }
}
