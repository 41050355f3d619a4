import { describe, expect, it } from "vitest";
import type { BundleModule, BundleSpec } from "../../reconciler/bundle.ts";
import { DEFAULT_COMPATIBILITY_DATE } from "../../reconciler/manifest.ts";
import { buildWorkerdConfig, HTTP_SOCKET, ROUTER_SERVICE, type ServedVersion } from "../../reconciler/workerd/build.ts";
import type { Module, Service, Worker } from "../../reconciler/workerd/config.ts";

const ROUTER_SOURCE = "export default { fetch() { return new Response('router'); } };\n";
const enc = (s: string) => new TextEncoder().encode(s);
const WASM = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x80, 0xff]);

function served(service: string, version: string, opts: { modules?: BundleModule[]; files?: Record<string, Uint8Array>; vars?: Record<string, string>; date?: string; flags?: string[] } = {}): ServedVersion {
  const modules = opts.modules ?? [{ name: "index.js", type: "esModule" }];
  const files = new Map(Object.entries(opts.files ?? { "index.js": enc(`export default {}; // ${service}/${version}\n`) }));
  const spec: BundleSpec = {
    service,
    version,
    digest: "sha256:" + "0".repeat(64),
    main: modules[0]!.name,
    compatibilityDate: opts.date ?? "2026-10-01",
    compatibilityFlags: opts.flags ?? ["nodejs_compat"],
    vars: opts.vars ?? {},
    breaking: false,
    modules,
  };
  return { spec, files };
}

const worker = (s: Service | undefined): Worker => {
  expect(s && "worker" in s).toBe(true);
  return (s as { worker: Worker }).worker;
};

describe("buildWorkerdConfig", () => {
  const VERSIONS = [
    served("greeter", "v-0123456789ab"),
    served("greeter", "v-ba9876543210"),
    served("counter", "1.0-aaaaaaaaaaaa"),
  ];

  it.each([
    ["no versions", [] as ServedVersion[]],
    ["one version", VERSIONS.slice(0, 1)],
    ["three versions", VERSIONS],
  ])("%s: router first, then one worker per version", (_label, versions) => {
    const config = buildWorkerdConfig(versions, ROUTER_SOURCE);
    expect(config.services.map((s) => s.name)).toEqual([
      ROUTER_SERVICE,
      ...versions.map((v) => `v/${v.spec.service}/${v.spec.version}`),
    ]);
    const router = worker(config.services[0]);
    expect(router.modules).toEqual([{ name: "router.js", esModule: ROUTER_SOURCE }]);
    expect(router.compatibilityDate).toBe(DEFAULT_COMPATIBILITY_DATE);
    expect(router.bindings).toEqual(
      versions.map((v) => ({ name: `${v.spec.service}/${v.spec.version}`, service: `v/${v.spec.service}/${v.spec.version}` })),
    );
    // Every binding points at a service that exists in the config.
    const names = new Set(config.services.map((s) => s.name));
    for (const b of router.bindings) expect(names.has((b as { service: string }).service)).toBe(true);
  });

  it.each([["no versions", [] as ServedVersion[]], ["three versions", VERSIONS]])(
    "%s: a single http socket to the router, with no address (it comes from --socket-fd)",
    (_label, versions) => {
      const { sockets } = buildWorkerdConfig(versions, ROUTER_SOURCE);
      expect(sockets).toEqual([{ name: HTTP_SOCKET, http: {}, service: ROUTER_SERVICE }]);
      expect(HTTP_SOCKET).toBe("http");
      expect(sockets[0]).not.toHaveProperty("address");
    },
  );

  it("copies compatibility date and flags of each version", () => {
    const config = buildWorkerdConfig(
      [served("a", "v-0123456789ab", { date: "2025-05-05", flags: ["nodejs_compat", "no_global_navigator"] }), served("b", "v-0123456789ab", { flags: [] })],
      ROUTER_SOURCE,
    );
    expect(worker(config.services[1])).toMatchObject({ compatibilityDate: "2025-05-05", compatibilityFlags: ["nodejs_compat", "no_global_navigator"] });
    expect(worker(config.services[2])).toMatchObject({ compatibilityDate: "2026-10-01", compatibilityFlags: [] });
  });

  it("does not alias the spec's flag array", () => {
    const v = served("a", "v-0123456789ab");
    worker(buildWorkerdConfig([v], ROUTER_SOURCE).services[1]).compatibilityFlags.push("mutated");
    expect(v.spec.compatibilityFlags).toEqual(["nodejs_compat"]);
  });

  it("modules follow spec order (not file order), each with the variant of its type", () => {
    const unicode = "export default { fetch() { return new Response('héllo ✓ 你好 🚀'); } };\n";
    const modules: BundleModule[] = [
      { name: "index.js", type: "esModule" },
      { name: "z/last.wasm", type: "wasm" },
      { name: "a/legacy.cjs", type: "commonJsModule" },
      { name: "data.json", type: "json" },
      { name: "page.html", type: "text" },
      { name: "blob.bin", type: "data" },
    ];
    const files: Record<string, Uint8Array> = {
      "README.md": enc("not a module"),
      "blob.bin": new Uint8Array([0, 1, 2, 254, 255]),
      "page.html": enc("<p>ü</p>"),
      "data.json": enc('{"a":"ö"}'),
      "a/legacy.cjs": enc("module.exports = 'ß';"),
      "z/last.wasm": WASM,
      "index.js": enc(unicode),
    };
    const config = buildWorkerdConfig([served("greeter", "v-0123456789ab", { modules, files })], ROUTER_SOURCE);
    const got = worker(config.services[1]).modules;
    const expected: Module[] = [
      { name: "index.js", esModule: unicode },
      { name: "z/last.wasm", wasm: WASM },
      { name: "a/legacy.cjs", commonJsModule: "module.exports = 'ß';" },
      { name: "data.json", json: '{"a":"ö"}' },
      { name: "page.html", text: "<p>ü</p>" },
      { name: "blob.bin", data: new Uint8Array([0, 1, 2, 254, 255]) },
    ];
    expect(got).toEqual(expected);
    // Binary variants carry the bytes unchanged (and as Uint8Array, not decoded text).
    const wasm = got[1] as { wasm: Uint8Array };
    expect(wasm.wasm).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(wasm.wasm).equals(Buffer.from(WASM))).toBe(true);
  });

  it.each<[BundleModule["type"], string]>([
    ["esModule", "esModule"],
    ["commonJsModule", "commonJsModule"],
    ["json", "json"],
    ["text", "text"],
    ["wasm", "wasm"],
    ["data", "data"],
  ])("module type %s becomes the %s variant and nothing else", (type, key) => {
    const modules: BundleModule[] = [{ name: "index.js", type: "esModule" }, { name: "m", type }];
    const files = { "index.js": enc("export default {};"), m: enc("x") };
    const m = worker(buildWorkerdConfig([served("s", "v-0123456789ab", { modules, files })], ROUTER_SOURCE).services[1]).modules[1]!;
    expect(Object.keys(m).sort()).toEqual(["name", key].sort());
  });

  it.each([
    ["no vars", {}, []],
    ["one var", { GREETING: "hi" }, [{ name: "GREETING", text: "hi" }]],
    [
      "several vars, including empty and JSON-looking values (kept as text)",
      { A: "1", B: "", C: '{"x":1}' },
      [
        { name: "A", text: "1" },
        { name: "B", text: "" },
        { name: "C", text: '{"x":1}' },
      ],
    ],
  ])("vars become text bindings: %s", (_label, vars, bindings) => {
    const config = buildWorkerdConfig([served("s", "v-0123456789ab", { vars })], ROUTER_SOURCE);
    expect(worker(config.services[1]).bindings).toEqual(bindings);
  });

  it.each([
    ["main module", [{ name: "index.js", type: "esModule" }], {}, "index.js"],
    [
      "second module",
      [
        { name: "index.js", type: "esModule" },
        { name: "lib/core.wasm", type: "wasm" },
      ],
      { "index.js": enc("x") },
      "lib/core.wasm",
    ],
  ] as Array<[string, BundleModule[], Record<string, Uint8Array>, string]>)("missing bytes for the %s throws naming the version and module", (_label, modules, files, missing) => {
    const good = served("counter", "v-aaaaaaaaaaaa");
    const bad = served("greeter", "v-0123456789ab", { modules, files });
    expect(() => buildWorkerdConfig([good, bad], ROUTER_SOURCE)).toThrow(/greeter\/v-0123456789ab/);
    expect(() => buildWorkerdConfig([good, bad], ROUTER_SOURCE)).toThrow(missing);
  });

  it("an empty module file is not treated as missing", () => {
    const v = served("s", "v-0123456789ab", { files: { "index.js": new Uint8Array() } });
    expect(worker(buildWorkerdConfig([v], ROUTER_SOURCE).services[1]).modules).toEqual([{ name: "index.js", esModule: "" }]);
  });
});
