// The front worker of every workerd generation. Requests arrive as /<service>/<version>/...
// - static mode: each live version is a service binding named "<service>/<version>", so routing
//   is one map lookup.
// - loader mode (GRIDIRON_LOADER present): the live set is GRIDIRON_LIVE at start, replaced by
//   PUT /live on the `control` entrypoint (a private unix socket per generation); each version's
//   code is read from the read-only version store (GRIDIRON_VERSIONS) on its first request and
//   loaded with the Worker Loader, which keeps it warm under the key "<service>/<version>" (version
//   ids are content hashes, so a key always names the same code).
// The path is passed on unchanged: the Restate SDK finds /discover and /invoke/... at the end of
// the path, whatever prefix precedes them.
//
// Loader mode also bounds what stays loaded: the Worker Loader keeps every version it loaded for the
// life of the process, so past GRIDIRON_LOADED_MAX versions (build.ts; --workerd-loaded-max) the
// least recently used one is unloaded (see unload below) and loads again on its next request. A
// version that leaves the live set is unloaded at once. And it runs a full garbage collection in each
// loaded version, and in itself, once every so many requests (see "Garbage collection" below).
//
// Request identity: before anything reaches a bundle, the request must carry a JWT that Restate
// signed with the mesh's key (`x-restate-signature-scheme: v1`, `x-restate-jwt-v1`), checked here
// with WebCrypto Ed25519 against the public keys in the GRIDIRON_REQUEST_IDENTITY binding
// (`{"keys": {"publickeyv1_<base58>": "<raw key, base64url>", ...}}`, or `{"keys": null}` when
// verification is off; build.ts decodes Restate's key format, so the id is only matched as text).
// Checked: alg EdDSA, the signature, `aud` equal to the path under the deployment URI (so a token
// for /discover cannot invoke a handler, nor one for Greeter/greet call Greeter/greetLater), `nbf`
// and `exp` with a few seconds of clock skew. Anything else gets 401 and never reaches user code.
// Only /_gridiron/health is open.
//
// Ramps (a progressive rollout, reconciler/restate/ramp.ts): /<service>/ramp~<old>~<new>~<weight>/
// sends each invocation to <new> when a hash of its invocation id falls under the weight, else to
// <old>. Restate sends every attempt of an invocation with the same id, so all its attempts run on
// one version. Discovery (and anything that is not an invocation) goes to <new>.
const SKEW_S = 5;

export default {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/_gridiron/health") return new Response("ok\n");
    if (collect && routerCollector.due()) ctx.waitUntil(Promise.resolve().then(() => routerCollector.took(collectGarbage(collect, routerCollector.probing()))));
    const parts = path.split("/", 3);
    const denied = await checkIdentity(request, env, path, parts);
    if (denied) return new Response(`gridiron: unauthorized: ${denied}\n`, { status: 401, headers: { "content-type": "text/plain; charset=utf-8" } });
    if (parts.length === 3 && parts[2].startsWith("ramp~")) parts[2] = rampVersion(parts[2], request, path) ?? parts[2];
    if (env.GRIDIRON_LOADER) {
      const key = `${parts[1] ?? ""}/${parts[2] ?? ""}`;
      const entry = parts.length === 3 && parts[2] !== "" ? liveSet(env).get(key) : undefined;
      if (!entry) return new Response(`gridiron: no version served at /${key}\n`, { status: 404 });
      const stub = env.GRIDIRON_LOADER.get(key, () => workerCode(env, key, entry));
      const idle = touch(key, entry, env.GRIDIRON_LOADED_MAX);
      if (idle.length > 0) ctx.waitUntil(Promise.all(idle.map(([k, e]) => unload(env, k, e, "the least recently used of the loaded versions"))));
      if (collect && collectorOf(key).due()) ctx.waitUntil(collectVersion(env, key, entry));
      return stub.getEntrypoint().fetch(request);
    }
    const target = parts.length === 3 && parts[2] !== "" ? env[`${parts[1]}/${parts[2]}`] : undefined;
    if (!target || typeof target.fetch !== "function") {
      return new Response(`gridiron: no version served at /${parts[1] ?? ""}/${parts[2] ?? ""}\n`, { status: 404 });
    }
    return target.fetch(request);
  },
};

/** The version a ramp sends this request to, or undefined when the segment is no ramp. */
function rampVersion(segment, request, path) {
  const m = /^ramp~([a-z0-9.-]+)~([a-z0-9.-]+)~(\d{1,2})$/.exec(segment);
  if (!m) return undefined;
  const id = /\/invoke\/[^/]+\/[^/]+$/.test(path) ? request.headers.get("x-restate-invocation-id") : null;
  if (!id) return m[2];
  return rampBucket(id) < Number(m[3]) ? m[2] : m[1];
}

/** 0..99: FNV-1a (32 bit) of the invocation id, modulo 100; the same as reconciler/restate/ramp.ts. */
function rampBucket(id) {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % 100;
}

// Loader mode's control entrypoint, reached only through the generation's own unix socket: PUT/GET
// /live, and GET /collections (what the garbage collection below did, per loaded version).
export const control = {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/collections") return Response.json({ router: routerCollector.summary(), versions: Object.fromEntries([...collectors].map(([k, c]) => [k, c.summary()])) });
    if (path !== "/live") return new Response("not found\n", { status: 404 });
    if (request.method === "PUT") {
      const body = await request.json();
      if (typeof body !== "object" || body === null || Array.isArray(body)) return new Response("live set must be an object\n", { status: 400 });
      live = new Map(Object.entries(body));
      const dropped = [...loaded].filter(([k]) => !live.has(k));
      for (const [k] of dropped) forget(k);
      if (dropped.length > 0) ctx.waitUntil(Promise.all(dropped.map(([k, e]) => unload(env, k, e, "no longer live"))));
    }
    return Response.json([...liveSet(env).keys()]);
  },
};

let live; // Map "<service>/<version>" -> LiveEntry (build.ts)
function liveSet(env) {
  live ??= new Map(Object.entries(env.GRIDIRON_LIVE ?? {}));
  return live;
}

const LOADER_MODULE = {
  esModule: async (r) => ({ js: await r.text() }),
  commonJsModule: async (r) => ({ cjs: await r.text() }),
  text: async (r) => ({ text: await r.text() }),
  json: async (r) => ({ json: await r.json() }),
  wasm: async (r) => ({ wasm: await r.arrayBuffer() }),
  data: async (r) => ({ data: await r.arrayBuffer() }),
};

// Versions loaded in this process, least recently used first: key -> LiveEntry.
const loaded = new Map();

function forget(key) {
  loaded.delete(key);
  collectors.delete(key);
}

/** Marks `key` used; returns the versions past `max`, least recently used first, to unload. */
function touch(key, entry, max) {
  loaded.delete(key);
  loaded.set(key, entry);
  const out = [];
  for (const [k, e] of loaded) {
    if (!(loaded.size > max)) break;
    forget(k);
    out.push([k, e]);
  }
  return out;
}

// Every version is loaded behind a main module of ours that re-exports the bundle's main module and
// adds two entrypoints: the garbage collection's (below), and the unload's. Asked, the latter calls
// abortIsolate(), which takes the version's isolate out of the Loader's map. Requests already in it
// run to their end (measured: a pending timer, a streamed body); the next request for the version
// loads it afresh. The abort runs after the entrypoint has answered, in a waitUntil task: called in
// the request itself, it fails that request, and workerd logs each unload as an error ("script
// terminated for unknown reasons").
const MAIN_MODULE = "__gridiron_main__.js";
const UNLOAD_ENTRYPOINT = "__gridironUnload";

function withGridironEntrypoints(code) {
  if (MAIN_MODULE in code.modules) return code;
  const main = JSON.stringify(`./${code.mainModule}`);
  code.modules[GC_MODULE] = { js: GC_MODULE_SOURCE };
  code.modules[MAIN_MODULE] = {
    js: [
      // First, so it runs before the bundle's code and takes `gc` out of its sight.
      `import { collectEntrypoint } from "./${GC_MODULE}";`,
      'import { abortIsolate } from "cloudflare:workers";',
      `export * from ${main};`,
      `export { default } from ${main};`,
      `export const ${COLLECT_ENTRYPOINT} = collectEntrypoint;`,
      `export const ${UNLOAD_ENTRYPOINT} = { fetch(request, env, ctx) { ctx.waitUntil(Promise.resolve().then(() => abortIsolate("gridiron: version unloaded"))); return new Response("unloading\\n"); } };`,
    ].join("\n"),
  };
  code.mainModule = MAIN_MODULE;
  return code;
}

// Garbage collection by requests served (loader mode; build.ts gives it V8's --expose-gc). Every
// request leaves C++ objects (headers, bodies, stream state) behind JS wrappers that only a full GC
// frees, V8 does not count them when it decides when to collect, and workerd's allocator keeps the
// pages they used for the life of the process: so the memory a cell holds is the peak of that
// garbage. The router therefore runs a full GC in each loaded version, and in itself, once every
// so many requests it served. How many follows what a collection costs there (a large live heap
// takes long to mark), so that collecting stays within GC_BUDGET_US per request; the median of
// the last few readings decides.
const collect = typeof globalThis.gc === "function" ? globalThis.gc : undefined;
if (collect) globalThis.gc = undefined;
const GC_EVERY_MIN = 256;
const GC_EVERY_MAX = 16384;
const GC_BUDGET_US = 12;
const GC_PROBE_EVERY = 8;
const GC_MODULE = "__gridiron_gc__.js";
const COLLECT_ENTRYPOINT = "__gridironCollect";

class Collector {
  count = 0;
  every = GC_EVERY_MIN;
  collections = 0;
  readings = [];
  /** Counts one request; true when a collection is due. */
  due() {
    if (++this.count < this.every) return false;
    this.count = 0;
    return true;
  }
  /** Whether the collection now due should also measure what marking costs (every GC_PROBE_EVERY-th). */
  probing() {
    return this.collections++ % GC_PROBE_EVERY === 0;
  }
  /** What GET /collections on the control socket reports. */
  summary() {
    return { every: this.every, collections: this.collections, markMs: this.readings.length > 0 ? this.median() : null };
  }
  median() {
    return [...this.readings].sort((a, b) => a - b)[this.readings.length >> 1];
  }
  took(ms) {
    if (typeof ms !== "number") return; // no probe this time
    this.readings.push(ms);
    if (this.readings.length > 5) this.readings.shift();
    const us = this.median() * 1000;
    this.every = Math.min(GC_EVERY_MAX, Math.max(GC_EVERY_MIN, Math.ceil(us / GC_BUDGET_US)));
  }
}

const routerCollector = new Collector();
const collectors = new Map(); // loaded version key -> Collector
function collectorOf(key) {
  let c = collectors.get(key);
  if (!c) collectors.set(key, (c = new Collector()));
  return c;
}

/**
 * A full GC with `gc`. Probing, a second one follows and is timed: it finds no garbage left, so
 * its time is what marking the live heap costs, the part a collection adds to the isolate's work
 * (freeing the garbage costs the same whoever starts it). workerd's clock runs during JS; under
 * a frozen clock the reading is 0 and collections stay at their most frequent.
 */
function collectGarbage(gc, probe) {
  gc();
  if (!probe) return undefined;
  const t0 = performance.now();
  gc();
  return performance.now() - t0;
}

// The version's side: its own `gc`, taken before the bundle's modules run, and the entrypoint the
// router calls. Without --expose-gc it answers null and collects nothing.
const GC_MODULE_SOURCE = [
  "const gc = typeof globalThis.gc === \"function\" ? globalThis.gc : undefined;",
  "if (gc) globalThis.gc = undefined;",
  `const collectGarbage = ${collectGarbage.toString()};`,
  "export const collectEntrypoint = { fetch(request) { return Response.json({ ms: gc ? collectGarbage(gc, new URL(request.url).searchParams.has(\"probe\")) ?? null : null }); } };",
].join("\n");

async function collectVersion(env, key, entry) {
  if (!loaded.has(key)) return; // unloaded meanwhile: asking would load it again
  try {
    const c = collectorOf(key);
    const res = await env.GRIDIRON_LOADER.get(key, () => workerCode(env, key, entry)).getEntrypoint(COLLECT_ENTRYPOINT).fetch(`http://gridiron/collect${c.probing() ? "?probe" : ""}`);
    const { ms } = await res.json();
    c.took(ms);
  } catch (err) {
    console.error(`gridiron: collecting garbage in ${key} failed: ${err?.message ?? err}`);
  }
}

async function unload(env, key, entry, why) {
  console.log(`gridiron: unloading ${key}, ${why}; it loads again on its next request`);
  try {
    await env.GRIDIRON_LOADER.get(key, () => workerCode(env, key, entry)).getEntrypoint(UNLOAD_ENTRYPOINT).fetch("http://gridiron/unload");
  } catch (err) {
    console.error(`gridiron: unloading ${key} failed: ${err?.message ?? err}`);
  }
}

/** The Worker Loader's description of one version, read from <versions>/<service>/<version>/bundle/. */
async function workerCode(env, key, entry) {
  const base = `http://versions/${key.split("/").map(encodeURIComponent).join("/")}/bundle/`;
  const modules = {};
  await Promise.all(entry.modules.map(async (m) => {
    const res = await env.GRIDIRON_VERSIONS.fetch(base + m.name.split("/").map(encodeURIComponent).join("/"));
    if (!res.ok) throw new Error(`${key}: module ${m.name} is not readable in the version store (HTTP ${res.status})`);
    modules[m.name] = await LOADER_MODULE[m.type](res);
    // Stack frames then name the version (`<service>/<version>/<module>:line:col`): every version
    // has its own index.js, and the daemon maps frames through that version's source map (stack.ts).
    if (m.type === "esModule") modules[m.name].js += `\n//# sourceURL=${key}/${m.name}\n`;
    if (m.type === "commonJsModule") modules[m.name].cjs += `\n//# sourceURL=${key}/${m.name}\n`;
  }));
  return withGridironEntrypoints({
    compatibilityDate: entry.compatibilityDate,
    compatibilityFlags: entry.compatibilityFlags,
    mainModule: entry.main,
    modules,
    env: entry.vars,
    globalOutbound: env.GRIDIRON_OUTBOUND,
  });
}

// Imported keys, per isolate. Only finished results are shared between requests (workerd does not
// let one request wait on a promise another request created); concurrent first requests each import.
let keyCache; // { source, keys: Map<kid, CryptoKey> | null }

async function configuredKeys(env) {
  const config = env.GRIDIRON_REQUEST_IDENTITY;
  if (!config || typeof config !== "object" || !("keys" in config)) throw new Error("GRIDIRON_REQUEST_IDENTITY binding missing");
  const source = JSON.stringify(config.keys);
  if (keyCache?.source === source) return keyCache.keys;
  const keys = config.keys === null ? null : new Map(await Promise.all(Object.entries(config.keys).map(async ([kid, raw]) =>
    [kid, await crypto.subtle.importKey("raw", base64UrlDecode(raw), { name: "Ed25519" }, false, ["verify"])],
  )));
  keyCache = { source, keys };
  return keys;
}

/** Why the request is refused, or undefined if it is signed by a configured key for this path. */
async function checkIdentity(request, env, path, parts) {
  let keys;
  try {
    keys = await configuredKeys(env);
  } catch (err) {
    return `request identity is misconfigured (${err.message})`;
  }
  if (keys === null) return undefined;
  const scheme = request.headers.get("x-restate-signature-scheme");
  if (scheme !== "v1") return scheme ? `unsupported signature scheme ${JSON.stringify(scheme)}` : "request is not signed by this mesh's Restate";
  const jwt = request.headers.get("x-restate-jwt-v1");
  if (!jwt) return "x-restate-jwt-v1 is missing or not a JWT";
  let claims = verifiedFor === keys ? verified.get(jwt) : undefined;
  if (!claims) {
    const result = await verifySignature(jwt, keys);
    if (typeof result === "string") return result;
    claims = result;
    remember(jwt, claims, keys);
  }
  const audience = expectedAudience(path, parts);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audience || !aud.includes(audience)) return `JWT audience does not match ${JSON.stringify(audience ?? path)}`;
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.exp !== "number" || typeof claims.nbf !== "number") return "JWT lacks exp or nbf";
  if (now > claims.exp + SKEW_S) return "JWT has expired";
  if (now < claims.nbf - SKEW_S) return "JWT is not valid yet";
  return undefined;
}

// Tokens whose signature verified, with their claims. Restate mints one token per path and second,
// so under load most requests carry a token seen a moment ago: the Ed25519 check, the costliest
// step of the router's work per request, is skipped for them. Audience and expiry are still
// checked each time.
const verified = new Map();
let verifiedFor; // the key map the cached verdicts belong to
const VERIFIED_MAX = 1024;
function remember(jwt, claims, keys) {
  if (verifiedFor !== keys) {
    verified.clear();
    verifiedFor = keys;
  }
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value);
  verified.set(jwt, claims);
}

/** The claims of a JWT signed (EdDSA) by one of `keys`, or why not. */
async function verifySignature(jwt, keys) {
  const segments = jwt.split(".");
  if (segments.length !== 3) return "x-restate-jwt-v1 is missing or not a JWT";
  let header, claims, signature;
  try {
    header = JSON.parse(new TextDecoder().decode(base64UrlDecode(segments[0])));
    claims = JSON.parse(new TextDecoder().decode(base64UrlDecode(segments[1])));
    signature = base64UrlDecode(segments[2]);
  } catch {
    return "x-restate-jwt-v1 is not a well-formed JWT";
  }
  if (typeof header !== "object" || header === null || typeof claims !== "object" || claims === null) return "x-restate-jwt-v1 is not a well-formed JWT";
  if (header.alg !== "EdDSA") return "JWT algorithm must be EdDSA";
  const candidates = typeof header.kid === "string" ? (keys.has(header.kid) ? [keys.get(header.kid)] : []) : [...keys.values()];
  if (candidates.length === 0) return "JWT is signed by a key this mesh does not trust";
  const input = new TextEncoder().encode(`${segments[0]}.${segments[1]}`);
  for (const key of candidates) {
    if (await crypto.subtle.verify({ name: "Ed25519" }, key, signature, input).catch(() => false)) return claims;
  }
  return "JWT signature does not verify";
}

/**
 * The audience Restate puts in its token for this request: the path under the deployment URI.
 * A deployment URI may carry more than /<service>/<version> (Gridiron adds a segment when it
 * registers a version again), so, like the SDK's own check, take "/invoke/<service>/<handler>" or
 * "/discover" from the end of the path; anything else is the path after /<service>/<version>.
 * The audience must lie wholly after /<service>/<version>.
 */
function expectedAudience(path, parts) {
  if (parts.length !== 3 || parts[2] === "") return undefined;
  const prefix = `/${parts[1]}/${parts[2]}`;
  const invoke = /\/invoke\/[^/]+\/[^/]+$/.exec(path);
  const tail = invoke ? invoke[0] : path.endsWith("/discover") ? "/discover" : path.slice(prefix.length);
  return tail && path.length - tail.length >= prefix.length ? tail : undefined;
}

function base64UrlDecode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}
