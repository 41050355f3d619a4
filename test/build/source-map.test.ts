/**
 * build-service emits a linked source map whose sources are named from the repository root, so a
 * stack frame in the bundle maps back to the same .ts path on every machine.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService, REPO_ROOT, type BuildResult } from "../../reconciler/build/service.ts";
import { bundleSourceMaps } from "../../reconciler/workerd/source-maps.ts";
import { mapStack } from "../../reconciler/workerd/stack.ts";

let tmp: string;
let built: BuildResult;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "gridiron-build-map-"));
  built = await buildService("thrower", path.join(tmp, "out"), { servicesDir: path.join(REPO_ROOT, "test/fixtures/services") });
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("build-service source maps", () => {
  it("writes index.js.map beside index.js, linked from it, with positions only", async () => {
    expect(built.files).toContain("index.js.map");
    const js = await readFile(path.join(built.dir, "index.js"), "utf8");
    expect(js.trimEnd().endsWith("//# sourceMappingURL=index.js.map")).toBe(true);
    const map = JSON.parse(await readFile(path.join(built.dir, "index.js.map"), "utf8")) as { sources: string[]; sourcesContent?: unknown };
    expect(map.sourcesContent).toBeUndefined();
    expect(map.sources).toContain("test/fixtures/services/thrower/index.ts");
    expect(map.sources.filter((s) => s.startsWith("..") || path.isAbsolute(s))).toEqual([]);
  });

  it("maps the frame of the throw back to its line in the .ts file", async () => {
    const js = await readFile(path.join(built.dir, "index.js"), "utf8");
    const lines = js.split("\n");
    const line = lines.findIndex((l) => l.includes("throw new Error(`thrower exploded on"));
    expect(line).toBeGreaterThan(0);
    const files = new Map<string, Uint8Array>();
    for (const f of built.files) files.set(f, new Uint8Array(await readFile(path.join(built.dir, f))));
    const frame = `    at explode (thrower/v-0123456789ab/index.js:${line + 1}:${lines[line]!.indexOf("throw") + 1})`;
    const source = (await readFile(path.join(REPO_ROOT, "test/fixtures/services/thrower/index.ts"), "utf8")).split("\n");
    const tsLine = source.findIndex((l) => l.includes("throw new Error(`thrower exploded on"));
    expect(mapStack(frame, bundleSourceMaps("thrower", "v-0123456789ab", files))).toBe(
      `    at explode (test/fixtures/services/thrower/index.ts:${tsLine + 1}:${source[tsLine]!.indexOf("throw") + 1})`,
    );
  });
});
