import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import * as esbuild from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleSourceMaps, storeSourceMaps } from "../../reconciler/workerd/source-maps.ts";
import { findSourceMap, frameLocations, mapStack, moduleSourceUrl, parseModuleSourceUrl } from "../../reconciler/workerd/stack.ts";

// A TypeScript source whose throw is on line 4, column 9, compiled the way build-service does.
const TS = ["// shop", "type Item = { id: string };", "export function explode(item: Item): never {", "  throw new Error(`no ${item.id}`);", "}", ""].join("\n");
let js: string;
let map: string;
let throwAt: { line: number; column: number };

beforeAll(async () => {
  const out = await esbuild.transform(TS, { loader: "ts", format: "esm", sourcemap: "external", sourcefile: "services/shop/index.ts" });
  js = `${out.code}//# sourceMappingURL=index.js.map\n`;
  map = out.map;
  const lines = js.split("\n");
  const line = lines.findIndex((l) => l.includes("throw new Error"));
  throwAt = { line: line + 1, column: lines[line]!.indexOf("throw") + 1 };
});

const enc = (s: string) => new TextEncoder().encode(s);

describe("frameLocations and parseModuleSourceUrl", () => {
  it.each([
    ["V8, named", "    at explode (shop/v-0123456789ab/index.js:4:9)", [{ file: "shop/v-0123456789ab/index.js", line: 4, column: 9 }]],
    ["V8, anonymous", "    at shop/v-0123456789ab/index.js:10:2", [{ file: "shop/v-0123456789ab/index.js", line: 10, column: 2 }]],
    ["V8, [as name]", "    at Object.handlerCopy [as boom] (index.js:367:22)", [{ file: "index.js", line: 367, column: 22 }]],
    ["workerd's start-up trace", "  at index.js:2:9 in f", [{ file: "index.js", line: 2, column: 9 }]],
    ["not a frame", "Error: at index.js:1:1 said the user", []],
    ["a native frame", "    at async Promise.all (index 0)", []],
  ])("%s", (_name, stack, expected) => expect(frameLocations(stack)).toEqual(expected));

  it.each([
    [moduleSourceUrl("shop", "v-0123456789ab", "index.js"), { service: "shop", version: "v-0123456789ab", module: "index.js" }],
    ["shop/release-1.2-0123456789ab/lib/a.js", { service: "shop", version: "release-1.2-0123456789ab", module: "lib/a.js" }],
    ["index.js", undefined],
    ["node:internal/x.js", undefined],
    ["Shop/v-0123456789ab/index.js", undefined],
    ["shop/v-short/index.js", undefined],
  ])("%s", (file, expected) => expect(parseModuleSourceUrl(file)).toEqual(expected));
});

describe("mapStack", () => {
  it("maps a frame to the TypeScript line and column, and leaves the rest as it was", () => {
    const files = new Map([["index.js", enc(js)], ["index.js.map", enc(map)]]);
    const lookup = bundleSourceMaps("shop", "v-0123456789ab", files);
    const stack = [
      "Error: no apple",
      `    at explode (shop/v-0123456789ab/index.js:${throwAt.line}:${throwAt.column})`,
      `  at index.js:${throwAt.line}:${throwAt.column} in explode`,
      "    at other (other/v-0123456789ab/index.js:1:1)",
      "    at index.js:999:1",
      "    at async Promise.all (index 0)",
    ].join("\n");
    expect(mapStack(stack, lookup).split("\n")).toEqual([
      "Error: no apple",
      "    at explode (services/shop/index.ts:4:3)",
      "  at services/shop/index.ts:4:3 in explode",
      "    at other (other/v-0123456789ab/index.js:1:1)",
      "    at index.js:999:1",
      "    at async Promise.all (index 0)",
    ]);
  });

  it("a malformed map or a lookup that throws leaves the stack alone", () => {
    const stack = "    at f (index.js:1:1)";
    expect(mapStack(stack, () => ({ version: 3, sources: [], sourcesContent: [], names: [], mappings: "!!!", file: "", sourceRoot: "" }))).toBe(stack);
    expect(mapStack(stack, () => { throw new Error("disk gone"); })).toBe(stack);
  });
});

describe("findSourceMap", () => {
  const payload = (sources: string[], extra: Record<string, unknown> = {}) => JSON.stringify({ version: 3, sources, names: [], mappings: "AAAA", ...extra });
  const reader = (files: Record<string, string>) => (p: string) => files[p];
  it.each<[string, Record<string, string>, string, string[] | undefined]>([
    ["the file sourceMappingURL names", { "index.js": "x\n//# sourceMappingURL=out.map\n", "out.map": payload(["a.ts"]), "index.js.map": payload(["wrong.ts"]) }, "index.js", ["a.ts"]],
    ["relative to the module's folder", { "lib/m.js": "x\n//# sourceMappingURL=../maps/m.map", "maps/m.map": payload(["m.ts"]) }, "lib/m.js", ["m.ts"]],
    ["an inline base64 map", { "index.js": `x\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(payload(["inline.ts"])).toString("base64")}` }, "index.js", ["inline.ts"]],
    ["<module>.map without a comment (wrangler)", { "index.js": "x", "index.js.map": payload(["../src/index.ts"]) }, "index.js", ["../src/index.ts"]],
    ["sourceRoot folded into the sources", { "index.js": "x", "index.js.map": payload(["index.ts"], { sourceRoot: "src" }) }, "index.js", ["src/index.ts"]],
    ["a URL that leaves the bundle", { "index.js": "x\n//# sourceMappingURL=../../etc/x.map" }, "index.js", undefined],
    ["no map at all", { "index.js": "x" }, "index.js", undefined],
    ["a map that is not JSON", { "index.js": "x", "index.js.map": "{" }, "index.js", undefined],
    ["no such module", {}, "index.js", undefined],
  ])("%s", (_name, files, module, sources) => expect(findSourceMap(module, reader(files))?.sources).toEqual(sources));
});

describe("storeSourceMaps", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "gridiron-stack-"));
    const bundle = path.join(dir, "shop", "v-0123456789ab", "bundle");
    await mkdir(bundle, { recursive: true });
    await writeFile(path.join(bundle, "index.js"), js);
    await writeFile(path.join(bundle, "index.js.map"), map);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("reads a stored version's map by the name its frames carry, and only such names", () => {
    const lookup = storeSourceMaps(dir);
    expect(lookup("shop/v-0123456789ab/index.js")?.sources).toEqual(["services/shop/index.ts"]);
    expect(lookup("shop/v-0123456789ab/../../x/index.js")).toBeUndefined();
    expect(lookup("index.js")).toBeUndefined();
    expect(lookup("shop/v-999999999999/index.js")).toBeUndefined();
    expect(mapStack(`    at explode (shop/v-0123456789ab/index.js:${throwAt.line}:${throwAt.column})`, lookup)).toBe("    at explode (services/shop/index.ts:4:3)");
  });
});
