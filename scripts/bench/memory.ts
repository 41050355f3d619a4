// Memory of the processes a benchmark compares, from /proc/<pid>/smaps_rollup: RSS (what the
// targets are stated in), PSS (pages shared between processes, such as workerd's binary mapped by
// every cell, counted once over them) and anonymous memory (heaps, not the binary).
import { readFile } from "node:fs/promises";
import type { Status } from "../../reconciler/reconcile/status.ts";

export interface ProcessMemory {
  rssMb: number;
  pssMb: number;
  anonMb: number;
}

export async function processMemory(pid: number): Promise<ProcessMemory | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
  } catch {
    return undefined;
  }
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
  return { rssMb: kb("Rss") / 1024, pssMb: kb("Pss") / 1024, anonMb: kb("Anonymous") / 1024 };
}

/** Every workerd process of a node: one per running cell (a node before cells: the one process). */
export function workerdPids(s: Status): number[] {
  const cells = s.workerd.cells ?? [];
  if (cells.length) return cells.flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
  return s.workerd.pid === undefined ? [] : [s.workerd.pid];
}

/** Summed over `pids` (processes that are gone count nothing), with each process's RSS. */
export async function totalMemory(pids: readonly number[]): Promise<ProcessMemory & { each: number[] }> {
  const all = await Promise.all(pids.map(processMemory));
  const sum = (f: (m: ProcessMemory) => number) => all.reduce((n, m) => n + (m ? f(m) : 0), 0);
  return { rssMb: sum((m) => m.rssMb), pssMb: sum((m) => m.pssMb), anonMb: sum((m) => m.anonMb), each: all.map((m) => Math.round(m?.rssMb ?? 0)) };
}
