/**
 * The stage layout is a contract: a module imports only from its own folder or from a stage below
 * it, and no files import each other in a circle. A newcomer can then trust the tree: a new source
 * kind goes in source/, a new effect in the stage it touches, a new command in cli/.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../reconciler/", import.meta.url));

/** Bottom to top: each stage may import from the stages listed before it. */
export const STAGES = ["core", "source", "store", "build", "restate", "workerd", "reconcile", "api", "node", "cli"] as const;
/** Stages that share a rank: neither may import the other. */
const RANK: Record<string, number> = { core: 0, source: 1, store: 2, build: 2, restate: 3, workerd: 4, reconcile: 5, api: 6, node: 7, cli: 8 };

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "_capnp" ? [] : sourceFiles(p);
    return /\.(ts|js)$/.test(e.name) ? [p] : [];
  });
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;

export function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(IMPORT_RE)].map((m) => path.resolve(path.dirname(file), (m[1] ?? m[2])!));
}

const stageOf = (file: string): string => path.relative(ROOT, file).split(path.sep)[0]!;

describe("layout", () => {
  const files = sourceFiles(ROOT);
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => t.startsWith(ROOT))]));

  it("every source file sits in a known stage folder", () => {
    const outside = files.map((f) => path.relative(ROOT, f)).filter((rel) => !(rel.split(path.sep)[0]! in RANK) || !rel.includes(path.sep));
    expect(outside).toEqual([]);
  });

  it("imports point only within a stage or down to a lower one", () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = stageOf(file);
      for (const t of targets) {
        const to = stageOf(t);
        if (to !== from && !(RANK[to]! < RANK[from]!)) upward.push(`${path.relative(ROOT, file)} -> ${path.relative(ROOT, t)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it("no import cycles", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, "open");
      stack.push(f);
      for (const t of graph.get(f) ?? []) {
        if (state.get(t) === "open") cycles.push([...stack.slice(stack.indexOf(t)), t].map((x) => path.relative(ROOT, x)).join(" -> "));
        else if (!state.has(t)) visit(t);
      }
      stack.pop();
      state.set(f, "done");
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it("the checker sees imports (a known downward import is found)", () => {
    const loop = path.join(ROOT, "reconcile", "loop.ts");
    expect(graph.get(loop)?.some((t) => stageOf(t) === "core")).toBe(true);
  });
});
