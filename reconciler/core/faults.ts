// Named fault points for crash-safety tests. Inert unless GRIDIRON_FAULTS is set, e.g.
//   GRIDIRON_FAULTS=after-register          kill this process (SIGKILL) the 1st time it is reached
//   GRIDIRON_FAULTS=after-swap:2            … the 2nd time
//   GRIDIRON_FAULTS=random:42:0.2           at every point, with probability 0.2, seeded by 42
// SIGKILL, not an exception: the point is to leave the world exactly as a power cut would.

export const FAULT_POINTS = [
  "after-store",
  "after-config-write",
  "before-swap",
  "after-swap",
  "before-register",
  "after-register",
  "before-deregister",
  "after-deregister",
  "during-gc",
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

type Rule = { kind: "named"; point: string; at: number } | { kind: "random"; next: () => number; p: number };

function parse(spec: string | undefined): Rule | null {
  if (!spec) return null;
  const random = /^random:(\d+):([0-9.]+)$/.exec(spec);
  if (random) {
    // mulberry32: tiny, seedable, good enough to pick crash points reproducibly.
    let a = Number(random[1]) >>> 0;
    const next = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return { kind: "random", next, p: Number(random[2]) };
  }
  const [point, at] = spec.split(":");
  if (!(FAULT_POINTS as readonly string[]).includes(point!)) throw new Error(`GRIDIRON_FAULTS: unknown fault point "${point}" (known: ${FAULT_POINTS.join(", ")})`);
  return { kind: "named", point: point!, at: at ? Number(at) : 1 };
}

const rule = parse(process.env.GRIDIRON_FAULTS);
const hits = new Map<string, number>();

/** Marks a point in the apply path; with a matching GRIDIRON_FAULTS rule the process dies here. */
export function fault(point: FaultPoint): void {
  if (!rule) return;
  const n = (hits.get(point) ?? 0) + 1;
  hits.set(point, n);
  const fire = rule.kind === "named" ? rule.point === point && rule.at === n : rule.next() < rule.p;
  if (fire) {
    process.stderr.write(`gridiron: fault point ${point} (hit ${n}): SIGKILL\n`);
    process.kill(process.pid, "SIGKILL");
  }
}
