import { describe, expect, it } from "vitest";
import type { BundleModule, BundleSpec } from "../../reconciler/source/bundle.ts";
import { DEFAULT_COMPATIBILITY_DATE } from "../../reconciler/source/manifest.ts";
import { generateKeyPairSync } from "node:crypto";
import { base58Decode, publicKeyV1 } from "../../reconciler/restate/identity.ts";
import {
  buildLaneConfig, LANE_BINDING, LANE_SERVICE, LOADER_V8_FLAGS, buildLoaderConfig, buildWorkerdConfig, CONTROL_SOCKET, DEFAULT_LOADED_MAX, LOADED_MAX_BINDING, identityBinding, LIVE_BINDING, LOADER_BINDING, liveSet, OUTBOUND_BINDING, V8_FLAGS, VERSIONS_BINDING, VERSIONS_SERVICE, HTTP_SOCKET, IDENTITY_BINDING, NO_NETWORK_SERVICE, OUTBOUND_SERVICE, ROUTER_SERVICE,
  type OutboundPolicy, type ServedVersion, type WorkerdPolicy,
} from "../../reconciler/workerd/build.ts";
import type { Module, Service, Worker } from "../../reconciler/workerd/config.ts";
import { decodeWorkerdConfig, encodeWorkerdConfig } from "../../reconciler/workerd/encode.ts";

// The router's modules as router-source.ts hands them over: main first, then what it imports.
const ROUTER_MODULES: readonly Module[] = [
  { name: "router.js", esModule: "import { check } from \"./router-check.js\";\nexport default { fetch() { return check() ?? new Response('router'); } };\n" },
  { name: "router-check.js", esModule: "export function check() { return undefined; }\n" },
];
const KEY = publicKeyV1(generateKeyPairSync("ed25519").publicKey);
const POLICY: WorkerdPolicy = { identityKeys: [KEY], outbound: "public" };
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
    const config = buildWorkerdConfig(versions, ROUTER_MODULES, POLICY);
    expect(config.services.map((s) => s.name)).toEqual([
      ROUTER_SERVICE,
      ...versions.map((v) => `v/${v.spec.service}/${v.spec.version}`),
      OUTBOUND_SERVICE,
      NO_NETWORK_SERVICE,
    ]);
    const router = worker(config.services[0]);
    expect(router.modules).toEqual(ROUTER_MODULES);
    expect(router.modules).not.toBe(ROUTER_MODULES);
    expect(router.compatibilityDate).toBe(DEFAULT_COMPATIBILITY_DATE);
    expect(router.bindings).toEqual([
      ...versions.map((v) => ({ name: `${v.spec.service}/${v.spec.version}`, service: `v/${v.spec.service}/${v.spec.version}` })),
      { name: IDENTITY_BINDING, json: identityBinding([KEY]) },
    ]);
    // Every binding points at a service that exists in the config.
    const names = new Set(config.services.map((s) => s.name));
    for (const b of router.bindings) if ("service" in b) expect(names.has(b.service)).toBe(true);
  });

  it.each([["no versions", [] as ServedVersion[]], ["three versions", VERSIONS]])(
    "%s: a single http socket to the router, with no address (it comes from --socket-fd)",
    (_label, versions) => {
      const { sockets } = buildWorkerdConfig(versions, ROUTER_MODULES, POLICY);
      expect(sockets).toEqual([{ name: HTTP_SOCKET, http: {}, service: ROUTER_SERVICE }]);
      expect(HTTP_SOCKET).toBe("http");
      expect(sockets[0]).not.toHaveProperty("address");
    },
  );

  it("copies compatibility date and flags of each version", () => {
    const config = buildWorkerdConfig(
      [served("a", "v-0123456789ab", { date: "2025-05-05", flags: ["nodejs_compat", "no_global_navigator"] }), served("b", "v-0123456789ab", { flags: [] })],
      ROUTER_MODULES,
      POLICY,
    );
    expect(worker(config.services[1])).toMatchObject({ compatibilityDate: "2025-05-05", compatibilityFlags: ["nodejs_compat", "no_global_navigator"] });
    expect(worker(config.services[2])).toMatchObject({ compatibilityDate: "2026-10-01", compatibilityFlags: [] });
  });

  it("does not alias the spec's flag array", () => {
    const v = served("a", "v-0123456789ab");
    worker(buildWorkerdConfig([v], ROUTER_MODULES, POLICY).services[1]).compatibilityFlags.push("mutated");
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
    const config = buildWorkerdConfig([served("greeter", "v-0123456789ab", { modules, files })], ROUTER_MODULES, POLICY);
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
    const m = worker(buildWorkerdConfig([served("s", "v-0123456789ab", { modules, files })], ROUTER_MODULES, POLICY).services[1]).modules[1]!;
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
    const config = buildWorkerdConfig([served("s", "v-0123456789ab", { vars })], ROUTER_MODULES, POLICY);
    // The defaults (RESTATE_LOGGING=WARN) come first, then the bundle's vars.
    expect(worker(config.services[1]).bindings).toEqual([{ name: "RESTATE_LOGGING", text: "WARN" }, ...bindings]);
  });

  it("a bundle's own RESTATE_LOGGING wins over the default", () => {
    const config = buildWorkerdConfig([served("s", "v-0123456789ab", { vars: { RESTATE_LOGGING: "DEBUG" } })], ROUTER_MODULES, POLICY);
    expect(worker(config.services[1]).bindings).toEqual([{ name: "RESTATE_LOGGING", text: "DEBUG" }]);
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
    expect(() => buildWorkerdConfig([good, bad], ROUTER_MODULES, POLICY)).toThrow(/greeter\/v-0123456789ab/);
    expect(() => buildWorkerdConfig([good, bad], ROUTER_MODULES, POLICY)).toThrow(missing);
  });

  it("an empty module file is not treated as missing", () => {
    const v = served("s", "v-0123456789ab", { files: { "index.js": new Uint8Array() } });
    expect(worker(buildWorkerdConfig([v], ROUTER_MODULES, POLICY).services[1]).modules).toEqual([{ name: "index.js", esModule: "" }]);
  });
});

describe("buildWorkerdConfig: what bundle code can reach", () => {
  const v = served("greeter", "v-0123456789ab", { vars: { GREETING: "hi" } });

  it.each<[OutboundPolicy, string[]]>([
    ["public", ["public"]],
    ["none", []],
    ["all", ["public", "private"]],
  ])("outbound %s: every version's fetch() goes to a network allowing %j; the router's to one allowing nothing", (outbound, allow) => {
    const config = buildWorkerdConfig([v, served("counter", "v-aaaaaaaaaaaa")], ROUTER_MODULES, { ...POLICY, outbound });
    const networks = Object.fromEntries(config.services.filter((s) => "network" in s).map((s) => [s.name, (s as { network: unknown }).network]));
    expect(networks).toEqual({ [OUTBOUND_SERVICE]: { allow }, [NO_NETWORK_SERVICE]: { allow: [] } });
    expect(config.services.filter((s) => "worker" in s).map((s) => [s.name, worker(s).globalOutbound])).toEqual([
      [ROUTER_SERVICE, NO_NETWORK_SERVICE],
      ["v/greeter/v-0123456789ab", OUTBOUND_SERVICE],
      ["v/counter/v-aaaaaaaaaaaa", OUTBOUND_SERVICE],
    ]);
    // An empty allow list must survive encoding as empty: capnp's default for a missing list is ["public"].
    const decoded = decodeWorkerdConfig(encodeWorkerdConfig(config));
    expect(decoded.services.find((s) => s.name === OUTBOUND_SERVICE)).toEqual({ name: OUTBOUND_SERVICE, network: { allow } });
    expect(decoded.services.find((s) => s.name === NO_NETWORK_SERVICE)).toEqual({ name: NO_NETWORK_SERVICE, network: { allow: [] } });
  });

  it("no disk service at all, and a version's only bindings are text vars (defaults and its own)", () => {
    const config = buildWorkerdConfig([v], ROUTER_MODULES, POLICY);
    expect(config.services.some((s) => "disk" in s)).toBe(false);
    expect(worker(config.services[1]).bindings).toEqual([{ name: "RESTATE_LOGGING", text: "WARN" }, { name: "GREETING", text: "hi" }]);
  });

  it("request identity: the router gets the keys, or null when verification is off", () => {
    const off = buildWorkerdConfig([v], ROUTER_MODULES, { identityKeys: null, outbound: "public" });
    expect(worker(off.services[0]).bindings.at(-1)).toEqual({ name: IDENTITY_BINDING, json: '{"keys":null}' });
    const two = publicKeyV1(generateKeyPairSync("ed25519").publicKey);
    const rotated = buildWorkerdConfig([v], ROUTER_MODULES, { identityKeys: [KEY, two], outbound: "public" });
    const raw = (k: string) => Buffer.from(base58Decode(k.slice("publickeyv1_".length))).toString("base64url");
    expect(JSON.parse((worker(rotated.services[0]).bindings.at(-1) as { json: string }).json)).toEqual({ keys: { [KEY]: raw(KEY), [two]: raw(two) } });
    // The raw form is the key's 32 bytes, as the public key itself exports them.
    expect(Buffer.from(raw(two), "base64url")).toHaveLength(32);
  });

  it.each([
    ["an empty key list (fail closed, not open)", [], /no public key/],
    ["a key without the publickeyv1_ prefix", [KEY.slice("publickeyv1_".length)], /not a publickeyv1_/],
    ["a key that is not base58", ["publickeyv1_0OIl"], /not a publickeyv1_/],
    ["a key of the wrong length", ["publickeyv1_abc"], /not a publickeyv1_/],
  ])("refuses %s", (_label, identityKeys, message) => {
    expect(() => buildWorkerdConfig([v], ROUTER_MODULES, { identityKeys, outbound: "public" })).toThrow(message);
  });

  it("refuses an unknown outbound policy", () => {
    expect(() => buildWorkerdConfig([v], ROUTER_MODULES, { ...POLICY, outbound: "internet" as OutboundPolicy })).toThrow(/unknown outbound policy/);
  });
});

describe("buildLoaderConfig (loader mode)", () => {
  const specs = [served("greeter", "v-0123456789ab", { vars: { GREETING: "hi" } }).spec, served("counter", "1.0-aaaaaaaaaaaa", {
    modules: [{ name: "main.mjs", type: "esModule" }, { name: "core.wasm", type: "wasm" }, { name: "data/table.json", type: "json" }],
  }).spec];

  it("holds the router, the read-only store and the networks, and no version code at all", () => {
    const config = buildLoaderConfig(specs, ROUTER_MODULES, POLICY, "/data/versions");
    expect(config.services.map((s) => s.name)).toEqual([ROUTER_SERVICE, VERSIONS_SERVICE, OUTBOUND_SERVICE, NO_NETWORK_SERVICE]);
    expect(config.services[1]).toEqual({ name: VERSIONS_SERVICE, disk: { path: "/data/versions" } });
    const router = worker(config.services[0]);
    expect(router.modules).toEqual(ROUTER_MODULES);
    expect(router.globalOutbound).toBe(NO_NETWORK_SERVICE);
    const names = router.bindings.map((b) => b.name);
    expect(names).toEqual([LOADER_BINDING, VERSIONS_BINDING, OUTBOUND_BINDING, LIVE_BINDING, LOADED_MAX_BINDING, IDENTITY_BINDING]);
    expect(router.bindings).toContainEqual({ name: LOADED_MAX_BINDING, json: String(DEFAULT_LOADED_MAX) });
    expect(router.bindings).toContainEqual({ name: LOADER_BINDING, workerLoader: {} });
    expect(router.bindings).toContainEqual({ name: OUTBOUND_BINDING, service: OUTBOUND_SERVICE });
    expect(config.sockets).toEqual([
      { name: HTTP_SOCKET, http: {}, service: ROUTER_SERVICE },
      { name: CONTROL_SOCKET, http: {}, service: ROUTER_SERVICE, entrypoint: "control" },
    ]);
    expect(config.v8Flags).toEqual([...V8_FLAGS, "--expose-gc"]);
    // It encodes, and decodes to the same thing.
    expect(decodeWorkerdConfig(encodeWorkerdConfig(config))).toEqual(config);
  });

  it("the live set names each version with what the loader needs: main, module types, date, flags, vars with defaults", () => {
    const config = buildLoaderConfig(specs, ROUTER_MODULES, POLICY, "/data/versions");
    const live = JSON.parse((worker(config.services[0]).bindings.find((b) => b.name === LIVE_BINDING) as { json: string }).json);
    expect(live).toEqual(liveSet(specs));
    expect(Object.keys(live)).toEqual(["greeter/v-0123456789ab", "counter/1.0-aaaaaaaaaaaa"]);
    expect(live["greeter/v-0123456789ab"].vars).toEqual({ RESTATE_LOGGING: "WARN", GREETING: "hi" });
    expect(live["counter/1.0-aaaaaaaaaaaa"]).toEqual({
      main: "main.mjs",
      modules: [{ name: "main.mjs", type: "esModule" }, { name: "core.wasm", type: "wasm" }, { name: "data/table.json", type: "json" }],
      compatibilityDate: "2026-10-01",
      compatibilityFlags: ["nodejs_compat"],
      vars: { RESTATE_LOGGING: "WARN" },
    });
  });

  it("an empty live set is valid (a mesh with nothing deployed yet)", () => {
    const config = buildLoaderConfig([], ROUTER_MODULES, POLICY, "/v");
    expect(JSON.parse((worker(config.services[0]).bindings.find((b) => b.name === LIVE_BINDING) as { json: string }).json)).toEqual({});
  });

  it("bounds the versions the router keeps loaded by the policy's loadedMax, a whole number ≥ 1", () => {
    const config = buildLoaderConfig(specs, ROUTER_MODULES, { ...POLICY, loadedMax: 300 }, "/v");
    expect(worker(config.services[0]).bindings).toContainEqual({ name: LOADED_MAX_BINDING, json: "300" });
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => buildLoaderConfig(specs, ROUTER_MODULES, { ...POLICY, loadedMax: bad }, "/v")).toThrow(/whole number ≥ 1/);
  });

  it("checks the policy like static mode", () => {
    expect(() => buildLoaderConfig(specs, ROUTER_MODULES, { ...POLICY, outbound: "internet" as OutboundPolicy }, "/v")).toThrow(/unknown outbound policy/);
    expect(() => buildLoaderConfig(specs, ROUTER_MODULES, { ...POLICY, identityKeys: [] }, "/v")).toThrow(/no public key/);
  });
});

describe("buildLaneConfig", () => {
  const LANE_MODULES: readonly Module[] = [
    { name: "__gridiron__/lane.js", esModule: "import version from \"./version.js\";\nexport default { fetch(r, e, c) { return version.fetch(r, e, c); } };\n" },
    { name: "__gridiron__/router-identity.js", esModule: "export const checkIdentity = () => undefined;\n" },
  ];

  it("one worker on the socket: the lane's modules first, version.js re-exporting the bundle's main, then the bundle's", () => {
    const v = served("greeter", "v-0123456789ab", { modules: [{ name: "lib/main.js", type: "esModule" }], files: { "lib/main.js": enc("export default {};\n") }, vars: { GREETING: "hi" } });
    const config = buildLaneConfig(v, LANE_MODULES, ROUTER_MODULES, POLICY);
    expect(config.sockets).toEqual([{ name: HTTP_SOCKET, http: {}, service: LANE_SERVICE }]);
    expect(config.services.map((s) => s.name)).toEqual([LANE_SERVICE, OUTBOUND_SERVICE, NO_NETWORK_SERVICE]);
    const w = worker(config.services[0]);
    expect(w.modules.map((m) => m.name)).toEqual(["__gridiron__/lane.js", "__gridiron__/router-identity.js", "__gridiron__/version.js", "lib/main.js"]);
    expect(w.modules[2]).toEqual({ name: "__gridiron__/version.js", esModule: 'export { default } from "../lib/main.js";\n' });
    expect(w.bindings).toEqual(expect.arrayContaining([
      { name: "GREETING", text: "hi" },
      { name: LANE_BINDING, text: "greeter/v-0123456789ab" },
      { name: IDENTITY_BINDING, json: identityBinding([KEY]) },
    ]));
    expect(w.globalOutbound).toBe(OUTBOUND_SERVICE);
    expect(config.v8Flags).toEqual([...LOADER_V8_FLAGS]);
    // It encodes as workerd reads it.
    expect(decodeWorkerdConfig(encodeWorkerdConfig(config)).sockets[0]!.service).toBe(LANE_SERVICE);
  });

  it("an empty lane is the router's config with nothing in it", () => {
    expect(buildLaneConfig(undefined, LANE_MODULES, ROUTER_MODULES, POLICY)).toEqual(buildWorkerdConfig([], ROUTER_MODULES, POLICY));
  });
});
