// What Linux says about a process: resident memory (VmRSS in /proc/<pid>/status) and CPU time
// (utime + stime in /proc/<pid>/stat). The parsers are pure (test/workerd/proc.test.ts); a
// process that is gone, or a system without /proc, reads as undefined.
import { readFile } from "node:fs/promises";

/**
 * Clock ticks per second of /proc/<pid>/stat's times: USER_HZ, which the kernel fixes at 100 on
 * every architecture Node runs on (sysconf(_SC_CLK_TCK) is not reachable from Node).
 */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcSample {
  rssBytes: number;
  cpuSeconds: number;
}

/** Resident set size in bytes from the text of /proc/<pid>/status (its `VmRSS: <n> kB` line). */
export function parseVmRss(status: string): number | undefined {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

/**
 * User plus system CPU seconds from the text of /proc/<pid>/stat. The command name (field 2) is
 * in parentheses and may itself hold spaces or parentheses, so fields are counted from the last
 * ")": utime and stime are fields 14 and 15.
 */
export function parseCpuSeconds(stat: string): number | undefined {
  const end = stat.lastIndexOf(")");
  if (end < 0) return undefined;
  const fields = stat.slice(end + 1).trim().split(/\s+/);
  // fields[0] is field 3 (state).
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** RSS and CPU time of `pid`, or undefined when it has exited (or there is no /proc). */
export async function readProcSample(pid: number): Promise<ProcSample | undefined> {
  try {
    const [status, stat] = await Promise.all([readFile(`/proc/${pid}/status`, "utf8"), readFile(`/proc/${pid}/stat`, "utf8")]);
    const rssBytes = parseVmRss(status);
    const cpuSeconds = parseCpuSeconds(stat);
    if (rssBytes === undefined || cpuSeconds === undefined) return undefined;
    return { rssBytes, cpuSeconds };
  } catch {
    return undefined;
  }
}
