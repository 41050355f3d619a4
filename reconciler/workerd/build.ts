// Builds workerd's config as plain typed objects from the versions that must be served. Pure:
// bytes in, objects out; encode.ts turns the result into Cap'n Proto.
//
// What bundle code can touch is decided here: a version's worker gets its own modules, its text
// vars and nothing else (no disk service, no binding to another version or to the router), and its
// global fetch()/connect() go to a network service shaped by the outbound policy. The router gets
// the request identity public keys and no network at all.
import type { BundleSpec } from "../source/bundle.ts";
import { base58Decode, isPublicKeyV1, PUBLIC_KEY_PREFIX } from "../restate/identity.ts";
import { DEFAULT_COMPATIBILITY_DATE } from "../source/manifest.ts";
import type { Binding, Module, Service, WorkerdConfig } from "./config.ts";
import { sourceUrlComment } from "./stack.ts";

export interface ServedVersion {
  spec: BundleSpec;
  files: ReadonlyMap<string, Uint8Array>;
}

export const ROUTER_SERVICE = "gridiron-router";
export const HTTP_SOCKET = "http";
/** Network service behind every version's global fetch(); shaped by the outbound policy. */
export const OUTBOUND_SERVICE = "gridiron-outbound";
/** Network service that allows nothing: the router's global fetch(). */
export const NO_NETWORK_SERVICE = "gridiron-no-network";
/** JSON binding of the router: see identityBinding. */
export const IDENTITY_BINDING = "GRIDIRON_REQUEST_IDENTITY";

/**
 * What a bundle's fetch() may reach. workerd's names: "public" is every address outside the
 * private and local ranges (so 127.0.0.0/8, 10/8, 192.168/16, ::1, unix sockets, and names that
 * resolve to them are refused); "private" is the rest.
 */
export type OutboundPolicy = "public" | "none" | "all";
export const OUTBOUND_POLICIES: readonly OutboundPolicy[] = ["public", "none", "all"];
const NETWORKS: Record<OutboundPolicy, { allow: string[] }> = {
  public: { allow: ["public"] },
  none: { allow: [] },
  all: { allow: ["public", "private"] },
};

export interface WorkerdPolicy {
  /**
   * Restate request identity public keys (`publickeyv1_…`) the router accepts; null turns the
   * check off (any request on workerd's socket reaches the services).
   */
  identityKeys: readonly string[] | null;
  outbound: OutboundPolicy;
  /**
   * Loader mode: how many versions one workerd process keeps loaded; past it the least recently
   * used is unloaded and loads again on its next request (router.js). Default DEFAULT_LOADED_MAX.
   */
  loadedMax?: number;
}

/**
 * Versions a cell keeps loaded by default (--workerd-loaded-max). A loaded Restate SDK version
 * holds a few MB for as long as it stays loaded, and reloading one costs its next call tens of ms;
 * the bound keeps a node of the default four cells within 2 GB however many versions are live,
 * with room for load (docs/performance.md, Memory).
 */
export const DEFAULT_LOADED_MAX = 32;

/**
 * Vars every version gets unless its bundle sets them. The Restate SDK logs two INFO lines per
 * invocation, and carrying them through workerd's stdout into the daemon's log is a real share of
 * workerd's CPU per call (docs/performance.md). A bundle that wants them sets RESTATE_LOGGING itself.
 */
export const DEFAULT_VARS: Readonly<Record<string, string>> = { RESTATE_LOGGING: "WARN" };

/**
 * How workerd serves versions. "loader" (default): one long-lived process whose router loads
 * versions with the Worker Loader, so a deploy restarts nothing. "static": every version is
 * compiled into the config and each change starts a new generation; stable workerd features only.
 */
export type WorkerdMode = "loader" | "static";
export const WORKERD_MODES: readonly WorkerdMode[] = ["loader", "static"];
export const CONTROL_SOCKET = "control";
export const VERSIONS_SERVICE = "gridiron-versions";
export const LOADER_BINDING = "GRIDIRON_LOADER";
export const VERSIONS_BINDING = "GRIDIRON_VERSIONS";
export const OUTBOUND_BINDING = "GRIDIRON_OUTBOUND";
export const LIVE_BINDING = "GRIDIRON_LIVE";
export const LOADED_MAX_BINDING = "GRIDIRON_LOADED_MAX";

/**
 * Small GC budgets for every isolate, because memory that workerd frees is not given back:
 * - the young generation stays at most 2 MiB per semi-space (V8's default lets it grow to 32 MiB
 *   per isolate). Request objects die young either way; a large young generation only holds more
 *   garbage, and the native memory behind it, between scavenges.
 * - the first full GC comes once 4 MiB is promoted, not at V8's much larger starting limit, and
 *   later limits follow the live heap as usual. Until a full GC, every request's C++ objects
 *   (headers, bodies, wrappers) wait in the old generation, and workerd's allocator (tcmalloc)
 *   keeps the pages they used.
 * Neither caps the heap. What each cost and saved is in docs/performance.md.
 */
export const V8_FLAGS: readonly string[] = ["--max-semi-space-size=2", "--initial-old-space-size=4"];

/**
 * Loader mode adds `gc` for the router, which runs a full GC in each loaded version once every so
 * many requests (router-collections.js): workerd's per-request C++ objects are freed only by a
 * full GC, which V8 alone starts too late for them. Bundle code never sees `gc`: the module the
 * router puts before every version's takes it away first.
 */
export const LOADER_V8_FLAGS: readonly string[] = [...V8_FLAGS, "--expose-gc"];

export const workerServiceName = (service: string, version: string): string => `v/${service}/${version}`;
export const routeName = (service: string, version: string): string => `${service}/${version}`;

const decoder = new TextDecoder("utf-8", { fatal: false });

/** `sourceUrl`: appended to JS modules so their stack frames name the version (stack.ts). */
function toModule(name: string, type: BundleSpec["modules"][number]["type"], bytes: Uint8Array, sourceUrl = ""): Module {
  switch (type) {
    case "esModule":
      return { name, esModule: decoder.decode(bytes) + sourceUrl };
    case "commonJsModule":
      return { name, commonJsModule: decoder.decode(bytes) + sourceUrl };
    case "wasm":
      return { name, wasm: bytes };
    case "json":
      return { name, json: decoder.decode(bytes) };
    case "text":
      return { name, text: decoder.decode(bytes) };
    case "data":
      return { name, data: bytes };
  }
}

function checkPolicy(policy: WorkerdPolicy): void {
  if (!OUTBOUND_POLICIES.includes(policy.outbound)) throw new Error(`unknown outbound policy ${JSON.stringify(policy.outbound)} (expected ${OUTBOUND_POLICIES.join(", ")})`);
  if (policy.loadedMax !== undefined && !(Number.isInteger(policy.loadedMax) && policy.loadedMax >= 1)) throw new Error(`loaded versions per workerd process: expected a whole number ≥ 1, got ${policy.loadedMax}`);
  if (policy.identityKeys !== null) {
    if (policy.identityKeys.length === 0) throw new Error("request identity: no public key given (pass null to turn verification off)");
    for (const k of policy.identityKeys) {
      if (!isPublicKeyV1(k)) throw new Error(`request identity: ${JSON.stringify(k)} is not a publickeyv1_<base58> Ed25519 key`);
    }
  }
}

/** `routerModules`: the router's modules, main first (router-source.ts reads them). */
function routerService(routerModules: readonly Module[], policy: WorkerdPolicy, bindings: Binding[]): Service {
  return {
    name: ROUTER_SERVICE,
    worker: {
      modules: [...routerModules],
      compatibilityDate: DEFAULT_COMPATIBILITY_DATE,
      compatibilityFlags: [],
      bindings: [...bindings, { name: IDENTITY_BINDING, json: identityBinding(policy.identityKeys) }],
      globalOutbound: NO_NETWORK_SERVICE,
    },
  };
}

/**
 * The router's GRIDIRON_REQUEST_IDENTITY: `{"keys": {"publickeyv1_…": "<raw key, base64url>"}}`,
 * or `{"keys": null}` when verification is off. The id names the key in a token's `kid`; the raw
 * bytes, decoded here, are what the router imports, so it needs no base58 of its own.
 */
export function identityBinding(keys: readonly string[] | null): string {
  if (keys === null) return JSON.stringify({ keys: null });
  return JSON.stringify({ keys: Object.fromEntries(keys.map((k) => [k, Buffer.from(base58Decode(k.slice(PUBLIC_KEY_PREFIX.length))).toString("base64url")])) });
}

function networkServices(policy: WorkerdPolicy): Service[] {
  return [
    { name: OUTBOUND_SERVICE, network: { allow: [...NETWORKS[policy.outbound].allow] } },
    { name: NO_NETWORK_SERVICE, network: { allow: [] } },
  ];
}

/**
 * Static mode: every live version is a worker of the config; a change means a new generation.
 * `nameModules`: JS modules get a `//# sourceURL` naming their version, so a stack that workerd
 * logs says which version it comes from (off: the modules are exactly the bundle's text).
 */
export function buildWorkerdConfig(versions: readonly ServedVersion[], routerModules: readonly Module[], policy: WorkerdPolicy, opts: { nameModules?: boolean } = {}): WorkerdConfig {
  checkPolicy(policy);
  const services: Service[] = [];
  const routes: Binding[] = [];
  for (const { spec, files } of versions) {
    const modules = versionModules(spec, files, opts.nameModules ?? false);
    const name = workerServiceName(spec.service, spec.version);
    services.push({
      name,
      worker: {
        modules,
        compatibilityDate: spec.compatibilityDate,
        compatibilityFlags: [...spec.compatibilityFlags],
        bindings: Object.entries(versionVars(spec)).map(([k, v]) => ({ name: k, text: v })),
        globalOutbound: OUTBOUND_SERVICE,
      },
    });
    routes.push({ name: routeName(spec.service, spec.version), service: name });
  }
  services.unshift(routerService(routerModules, policy, routes));
  services.push(...networkServices(policy));
  return { services, sockets: [{ name: HTTP_SOCKET, http: {}, service: ROUTER_SERVICE }], v8Flags: [...V8_FLAGS] };
}

/** A version's modules as the bundle lists them (main first); `nameModules` as buildWorkerdConfig's. */
function versionModules(spec: BundleSpec, files: ReadonlyMap<string, Uint8Array>, nameModules: boolean): Module[] {
  return spec.modules.map((m) => {
    const bytes = files.get(m.name);
    if (!bytes) throw new Error(`${spec.service}/${spec.version}: module ${m.name} missing from the stored bundle`);
    return toModule(m.name, m.type, bytes, nameModules ? sourceUrlComment(spec.service, spec.version, m.name) : "");
  });
}

export const LANE_SERVICE = "gridiron-lane";
/** Text binding of a lane's worker: the "<service>/<version>" it serves (lane.js). */
export const LANE_BINDING = "GRIDIRON_LANE";

/**
 * A lane (--lanes): one version on the socket, its worker's main module lane.js, which checks
 * what the router would (the path names this version, the request identity) in the version's own
 * isolate and calls the bundle's main module directly. `laneModules`: lane.js first, then the
 * modules it imports, named under their directory (router-source.ts); "version.js" there, made
 * here, re-exports the bundle's main. With no version, the router's config with nothing in it.
 */
export function buildLaneConfig(version: ServedVersion | undefined, laneModules: readonly Module[], routerModules: readonly Module[], policy: WorkerdPolicy): WorkerdConfig {
  if (!version) return buildWorkerdConfig([], routerModules, policy);
  checkPolicy(policy);
  const { spec, files } = version;
  const [main, ...rest] = laneModules;
  if (!main) throw new Error("lane: no lane modules");
  const dir = main.name.slice(0, main.name.lastIndexOf("/") + 1);
  const bundle = versionModules(spec, files, true);
  const clash = bundle.find((m) => m.name.startsWith(dir));
  if (clash) throw new Error(`${spec.service}/${spec.version}: module ${clash.name} is under ${dir}, which a lane keeps for its own modules`);
  const reexport = `${"../".repeat(dir.split("/").length - 1)}${spec.main}`;
  const modules: Module[] = [main, ...rest, { name: `${dir}version.js`, esModule: `export { default } from ${JSON.stringify(reexport)};\n` }, ...bundle];
  return {
    services: [{
      name: LANE_SERVICE,
      worker: {
        modules,
        compatibilityDate: spec.compatibilityDate,
        compatibilityFlags: [...spec.compatibilityFlags],
        bindings: [
          ...Object.entries(versionVars(spec)).map(([k, v]) => ({ name: k, text: v })),
          { name: LANE_BINDING, text: routeName(spec.service, spec.version) },
          { name: IDENTITY_BINDING, json: identityBinding(policy.identityKeys) },
        ],
        globalOutbound: OUTBOUND_SERVICE,
      },
    }, ...networkServices(policy)],
    sockets: [{ name: HTTP_SOCKET, http: {}, service: LANE_SERVICE }],
    // --expose-gc for lane.js's collections (router-collections.js takes `gc` from the bundle).
    v8Flags: [...LOADER_V8_FLAGS],
  };
}

/**
 * What the router needs to load one version through the Worker Loader: everything but the bytes,
 * which it reads from the version store on first use.
 */
export interface LiveEntry {
  main: string;
  modules: { name: string; type: BundleSpec["modules"][number]["type"] }[];
  compatibilityDate: string;
  compatibilityFlags: string[];
  vars: Record<string, string>;
}

/** The live set the router serves, keyed "<service>/<version>". */
export function liveSet(specs: readonly BundleSpec[]): Record<string, LiveEntry> {
  const out: Record<string, LiveEntry> = {};
  for (const spec of specs) {
    out[routeName(spec.service, spec.version)] = {
      main: spec.main,
      modules: spec.modules.map((m) => ({ name: m.name, type: m.type })),
      compatibilityDate: spec.compatibilityDate,
      compatibilityFlags: [...spec.compatibilityFlags],
      vars: versionVars(spec),
    };
  }
  return out;
}

/**
 * Loader mode (needs `workerd --experimental`): the config holds only the router, which loads each
 * live version's code from the read-only version store on its first request and keeps it warm
 * (the policy's loadedMax versions at most, the least recently used unloaded first). Adding or
 * dropping a version changes the router's live set over the control socket; no process restarts,
 * so deploy cost does not grow with what else is live. `live` is the set a new
 * generation starts with (and a crashed one restarts with).
 */
export function buildLoaderConfig(specs: readonly BundleSpec[], routerModules: readonly Module[], policy: WorkerdPolicy, versionsDir: string): WorkerdConfig {
  checkPolicy(policy);
  const bindings: Binding[] = [
    { name: LOADER_BINDING, workerLoader: {} },
    { name: VERSIONS_BINDING, service: VERSIONS_SERVICE },
    { name: OUTBOUND_BINDING, service: OUTBOUND_SERVICE },
    { name: LIVE_BINDING, json: JSON.stringify(liveSet(specs)) },
    { name: LOADED_MAX_BINDING, json: JSON.stringify(policy.loadedMax ?? DEFAULT_LOADED_MAX) },
  ];
  return {
    services: [routerService(routerModules, policy, bindings), { name: VERSIONS_SERVICE, disk: { path: versionsDir } }, ...networkServices(policy)],
    sockets: [
      { name: HTTP_SOCKET, http: {}, service: ROUTER_SERVICE },
      // The disk service is read-only by default: bundle code never reaches it, the router only reads.
      // Address given per generation (`--socket-addr control=unix:…`), so each has its own.
      { name: CONTROL_SOCKET, http: {}, service: ROUTER_SERVICE, entrypoint: "control" },
    ],
    v8Flags: [...LOADER_V8_FLAGS],
  };
}

function versionVars(spec: BundleSpec): Record<string, string> {
  return { ...DEFAULT_VARS, ...spec.vars };
}
